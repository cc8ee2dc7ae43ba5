package io.modelrefinery.host.service;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelrefinery.api.event.EventTypes;
import io.modelrefinery.host.event.CloudEvent;
import io.modelrefinery.host.event.CloudEventCodec;
import io.modelrefinery.host.http.ApiToken;
import io.modelrefinery.host.kafka.EventTopics;
import io.modelrefinery.host.osgi.TestBundles;
import io.modelrefinery.host.osgi.brokenactivation.ThrowingConstructorTransform;
import io.modelrefinery.host.osgi.brokenplugin.ThrowingDescriptorTransform;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.host.testing.TopicReader;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The HTTP API of a real running service (embedded broker, plugin framework, ONNX Runtime) started with an
 * API token: the bearer-token guard on every mutating endpoint, and plugin management over HTTP.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PluginManagementHttpTest {
    private static final String TOKEN = "s3cret-t0ken-for-tests";
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    private static Path plugins;
    private static RefineryService service;
    private static Path inbox;
    private static final ListAppender<ILoggingEvent> LOGS = new ListAppender<>();

    @BeforeAll
    static void start() throws Exception {
        LOGS.start();
        ((Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME)).addAppender(LOGS);
        plugins = Files.createDirectories(dir.resolve("plugins"));
        ServiceConfig config = ServiceConfig.builder(dir.resolve("data"), plugins)
                .kafkaPort(0).http("127.0.0.1", 0).topics(EventTopics.defaults(), 1)
                .defaultPipeline(PipelineSpec.parse("test-versioned"))
                .apiToken(ApiToken.of(TOKEN + "\n")).build();
        service = RefineryService.start(config);
        inbox = config.artifactRoots().get(0);
        Files.copy(TestModels.sampleCnnFile(), inbox.resolve("cnn.onnx"));
    }

    @AfterAll
    static void stop() {
        ((Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME)).detachAppender(LOGS);
        if (service != null) {
            service.close();
        }
    }

    private static HttpResponse<String> send(String method, String path, HttpRequest.BodyPublisher body,
                                             String authorization) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + service.httpPort() + path))
                .method(method, body);
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> put(String file, byte[] jar, String authorization) throws Exception {
        return send("PUT", "/plugins/" + file, HttpRequest.BodyPublishers.ofByteArray(jar), authorization);
    }

    private static HttpResponse<String> delete(String id, String authorization) throws Exception {
        return send("DELETE", "/plugins/" + id, HttpRequest.BodyPublishers.noBody(), authorization);
    }

    private static JsonNode listed(String file) throws Exception {
        JsonNode all = JSON.readTree(send("GET", "/plugins", HttpRequest.BodyPublishers.noBody(), null).body());
        for (JsonNode plugin : all) {
            if (plugin.get("file").asText().equals(file)) {
                return plugin;
            }
        }
        return null;
    }

    private static JsonNode awaitListed(String file, String state) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (true) {
            JsonNode plugin = listed(file);
            if (plugin != null && plugin.get("state").asText().equals(state) || System.nanoTime() > deadline) {
                return plugin;
            }
            Thread.sleep(50);
        }
    }

    @Test
    @Order(1)
    void registeringAModelNeedsTheBearerToken() throws Exception {
        String body = "{\"name\":\"guarded\",\"version\":\"1\",\"uri\":\"" + inbox.resolve("cnn.onnx").toUri() + "\"}";

        HttpResponse<String> none = send("POST", "/models", HttpRequest.BodyPublishers.ofString(body), null);
        HttpResponse<String> wrong = send("POST", "/models", HttpRequest.BodyPublishers.ofString(body), "Bearer nope");
        HttpResponse<String> prefix = send("POST", "/models", HttpRequest.BodyPublishers.ofString(body),
                "Bearer " + TOKEN.substring(0, TOKEN.length() - 1));
        HttpResponse<String> basic = send("POST", "/models", HttpRequest.BodyPublishers.ofString(body), "Basic " + TOKEN);
        HttpResponse<String> right = send("POST", "/models", HttpRequest.BodyPublishers.ofString(body), "Bearer " + TOKEN);

        for (HttpResponse<String> refused : List.of(none, wrong, prefix, basic)) {
            assertEquals(401, refused.statusCode(), refused.body());
            assertEquals("Bearer realm=\"model-refinery\"", refused.headers().firstValue("WWW-Authenticate").orElse(""));
            assertFalse(refused.body().contains(TOKEN));
        }
        assertEquals("{\"error\":\"this endpoint needs 'Authorization: Bearer <token>'\"}", none.body());
        assertEquals(202, right.statusCode(), right.body());
        String jobId = JSON.readTree(right.body()).get("jobId").asText();
        try (TopicReader reader = new TopicReader(service.bootstrapServers(),
                List.of(EventTopics.defaults().registered(), EventTopics.defaults().failed()))) {
            // Only the authorized request reached Kafka: one registration, for the accepted job.
            List<CloudEvent> registered = reader.until(rs -> rs.stream().anyMatch(r -> r.topic().equals(
                    EventTopics.defaults().registered())), Duration.ofSeconds(30)).stream()
                    .filter(r -> r.topic().equals(EventTopics.defaults().registered()))
                    .map(r -> CloudEventCodec.decode(r.value(), Map.of())).toList();
            assertEquals(1, registered.size());
            assertEquals(EventTypes.MODEL_REGISTERED, registered.get(0).type());
            assertTrue(registered.get(0).id().startsWith(jobId), registered.get(0).id());
        }
        // Reading stays open.
        assertEquals(200, send("GET", "/jobs", HttpRequest.BodyPublishers.noBody(), null).statusCode());
    }

    @Test
    @Order(2)
    void uploadingAndDeletingPluginsNeedTheTokenAndTakeEffectWithoutARestart() throws Exception {
        byte[] jar = TestBundles.versioned("1.2.0", Map.of());

        HttpResponse<String> anonymous = put("versioned.jar", jar, null);
        HttpResponse<String> wrong = put("versioned.jar", jar, "Bearer " + TOKEN + "x");
        assertEquals(401, anonymous.statusCode());
        assertEquals(401, wrong.statusCode());
        assertFalse(Files.exists(plugins.resolve("versioned.jar")), "a refused upload writes nothing");
        // A large body is answered without being read: the client still gets its 401, on a closed connection.
        HttpResponse<String> large = put("large.jar", new byte[40 << 20], null);
        assertEquals(401, large.statusCode(), large.body());

        HttpResponse<String> uploaded = put("versioned.jar", jar, "Bearer " + TOKEN);
        assertEquals(201, uploaded.statusCode(), uploaded.body());
        JsonNode plugin = JSON.readTree(uploaded.body());
        assertEquals("active", plugin.get("state").asText(), uploaded.body());
        assertEquals("test.versioned", plugin.get("bundle").asText());
        assertEquals("1.2.0", plugin.get("version").asText());
        assertEquals("test-versioned", plugin.at("/transforms/0/id").asText());
        assertEquals("gate", plugin.at("/transforms/0/params/0/name").asText());
        assertEquals("string", plugin.at("/transforms/0/params/0/type").asText());
        assertFalse(plugin.at("/transforms/0/params/0/doc").asText().isBlank());
        assertEquals("1.2.0", service.plugins().registry().descriptor("test-versioned").orElseThrow().version());

        HttpResponse<String> upgraded = put("versioned.jar", TestBundles.versioned("1.3.0", Map.of()), "Bearer " + TOKEN);
        assertEquals(200, upgraded.statusCode(), upgraded.body());
        assertEquals("1.3.0", JSON.readTree(upgraded.body()).get("version").asText());
        assertEquals("active", JSON.readTree(upgraded.body()).get("state").asText());

        HttpResponse<String> duplicate = put("other-name.jar", jar, "Bearer " + TOKEN);
        assertEquals(409, duplicate.statusCode(), duplicate.body());
        assertTrue(duplicate.body().contains("already installed from versioned.jar"), duplicate.body());

        assertEquals(401, delete("test.versioned", null).statusCode());
        assertEquals(401, delete("test.versioned", "Bearer wrong").statusCode());
        assertTrue(Files.exists(plugins.resolve("versioned.jar")));
        HttpResponse<String> deleted = delete("test.versioned", "Bearer " + TOKEN);
        assertEquals(200, deleted.statusCode(), deleted.body());
        assertEquals("removed", JSON.readTree(deleted.body()).get("state").asText());
        assertFalse(Files.exists(plugins.resolve("versioned.jar")));
        assertEquals(null, listed("versioned.jar"));
        assertEquals(Optional.empty(), service.plugins().registry().descriptor("test-versioned"));
        assertEquals(404, delete("versioned.jar", "Bearer " + TOKEN).statusCode());
    }

    @Test
    @Order(3)
    void aBundleForAnotherApiMajorVersionIsRefusedWithThatReason() throws Exception {
        HttpResponse<String> refused = put("api2.jar", TestBundles.forApiMajor(2), "Bearer " + TOKEN);

        assertEquals(422, refused.statusCode(), refused.body());
        String error = JSON.readTree(refused.body()).get("error").asText();
        assertTrue(error.contains("built for an incompatible api major version: it needs refinery-api 2.x, this host runs 1.x"),
                error);
        assertTrue(error.contains("io.modelrefinery.api.plugin [2.0.0,3.0.0)"), error);
        assertFalse(Files.exists(plugins.resolve("api2.jar")), "a refused bundle is not written");

        // The same jar dropped into the folder by hand is listed as unresolved, with the same reason.
        TestBundles.drop(plugins, "api2-dropped.jar", TestBundles.forApiMajor(2));
        JsonNode dropped = awaitListed("api2-dropped.jar", "unresolved");
        assertEquals("unresolved", dropped.get("state").asText(), dropped.toString());
        assertTrue(dropped.get("problem").asText().startsWith("built for an incompatible api major version"),
                dropped.toString());
        assertEquals(200, delete("api2-dropped.jar", "Bearer " + TOKEN).statusCode());

        HttpResponse<String> notABundle = put("notes.jar", "not a jar".getBytes(), "Bearer " + TOKEN);
        assertEquals(400, notABundle.statusCode(), notABundle.body());
        HttpResponse<String> badName = put(".hidden.jar", TestBundles.versioned("1.0.0", Map.of()), "Bearer " + TOKEN);
        assertEquals(400, badName.statusCode(), badName.body());
    }

    @Test
    @Order(4)
    void aPluginWhoseTransformFailsIsListedAsFailedWithTheCause() throws Exception {
        byte[] jar = TestBundles.bundle("test.broken", "1.0.0", ThrowingDescriptorTransform.class, Map.of());

        HttpResponse<String> uploaded = put("broken.jar", jar, "Bearer " + TOKEN);

        assertEquals(201, uploaded.statusCode(), uploaded.body());
        JsonNode plugin = JSON.readTree(uploaded.body());
        assertEquals("failed", plugin.get("state").asText(), uploaded.body());
        assertTrue(plugin.get("problem").asText().contains(ThrowingDescriptorTransform.MESSAGE), uploaded.body());
        assertEquals(200, send("GET", "/health", HttpRequest.BodyPublishers.noBody(), null).statusCode(),
                "a failed plugin has settled: it does not hold the instance back");
        assertTrue(service.metrics().scrape().contains("refinery_plugins{state=\"failed\"} 1.0"));
        assertEquals(200, delete("broken.jar", "Bearer " + TOKEN).statusCode());

        HttpResponse<String> unbuildable = put("unbuildable.jar", TestBundles.bundle("test.unbuildable", "1.0.0",
                ThrowingConstructorTransform.class, Map.of()), "Bearer " + TOKEN);
        JsonNode failed = JSON.readTree(unbuildable.body());
        assertEquals("failed", failed.get("state").asText(), unbuildable.body());
        assertEquals("its transform component failed to activate (the log has the cause)", failed.get("problem").asText());
        assertEquals(200, delete("test.unbuildable", "Bearer " + TOKEN).statusCode());
    }

    @Test
    @Order(99)
    void theTokenIsNeverLogged() {
        List<ILoggingEvent> events = List.copyOf(LOGS.list);
        assertTrue(events.stream().anyMatch(e -> e.getFormattedMessage().contains("refused: wrong bearer token")),
                "refusals are logged");
        for (ILoggingEvent event : events) {
            assertFalse(event.getFormattedMessage().contains(TOKEN), event.getFormattedMessage());
            assertFalse(event.getThrowableProxy() != null && event.getThrowableProxy().getMessage() != null
                    && event.getThrowableProxy().getMessage().contains(TOKEN), event.getFormattedMessage());
        }
    }
}
