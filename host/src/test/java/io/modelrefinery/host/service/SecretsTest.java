package io.modelrefinery.host.service;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.Appender;
import ch.qos.logback.core.read.ListAppender;
import io.modelrefinery.api.event.EventTypes;
import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.host.event.CloudEventCodec;
import io.modelrefinery.host.event.OutcomeEvents;
import io.modelrefinery.host.kafka.EventTopics;
import io.modelrefinery.host.kafka.KafkaSettings;
import io.modelrefinery.host.kafka.OutcomePublisher;
import io.modelrefinery.host.osgi.TestBundles;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.host.testing.TopicReader;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * No configured secret ever appears in a log line (at any level the host itself logs, Kafka's at INFO),
 * an event, or an HTTP answer, whatever the service is asked to do.
 */
class SecretsTest {
    private static final String WEBHOOK_SECRET = "webhook-SECRET-7f3a";
    private static final String KAFKA_PASSWORD = "kafka-SECRET-91c2";

    @TempDir
    Path dir;

    @Test
    void secretsStayOutOfLogsEventsAndAnswers() throws Exception {
        LoggerContext logging = (LoggerContext) LoggerFactory.getILoggerFactory();
        Logger root = logging.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        Logger kafka = logging.getLogger("org.apache.kafka");
        Level rootLevel = root.getLevel();
        Level kafkaLevel = kafka.getLevel();
        ListAppender<ILoggingEvent> captured = new ListAppender<>();
        captured.setContext(logging);
        captured.start();
        List<Appender<ILoggingEvent>> console = new ArrayList<>(); // kept quiet: the debug flood goes to the list only
        root.iteratorForAppenders().forEachRemaining(console::add);
        console.forEach(root::detachAppender);
        root.addAppender(captured);
        root.setLevel(Level.DEBUG);
        kafka.setLevel(Level.INFO); // Kafka prints every client setting at INFO, masking passwords
        List<String> answers = new ArrayList<>();
        List<String> events = new ArrayList<>();
        try {
            Path plugins = Files.createDirectories(dir.resolve("plugins"));
            TestBundles.drop(plugins, "versioned.jar", TestBundles.versioned("1.0.0", Map.of()));
            ServiceConfig config = ServiceConfig.builder(dir.resolve("data"), plugins)
                    .kafkaPort(0).http("127.0.0.1", 0).topics(EventTopics.defaults(), 1)
                    .defaultPipeline(PipelineSpec.parse("test-versioned")).mlflowSecret(WEBHOOK_SECRET)
                    .kafkaOverrides(Map.of("ssl.key.password", KAFKA_PASSWORD)).build();
            try (RefineryService service = RefineryService.start(config);
                 OutcomePublisher registry = new OutcomePublisher(new KafkaSettings(service.bootstrapServers(), "tests",
                         config.topics(), 1, Map.of("ssl.key.password", KAFKA_PASSWORD)), "secrets-registry")) {
                Path model = config.artifactRoots().get(0).resolve("seed.onnx");
                Files.copy(TestModels.sampleCnnFile(), model);
                ModelRegistered registered = new ModelRegistered("secret-test", "1", model.toUri().toString(), null, null,
                        null, null, null, null, Map.of());
                registry.publish(config.topics().registered(), "secret-test", OutcomeEvents.registered(registered,
                        UUID.randomUUID().toString(), Instant.now())).get();
                HttpClient http = HttpClient.newHttpClient();
                String base = "http://127.0.0.1:" + service.httpPort();
                HttpResponse<String> forged = http.send(HttpRequest.newBuilder(URI.create(base + "/webhooks/mlflow"))
                        .header("X-MLflow-Signature", "v1,forged").header("X-MLflow-Delivery-Id", "d1")
                        .header("X-MLflow-Timestamp", Long.toString(Instant.now().getEpochSecond()))
                        .POST(HttpRequest.BodyPublishers.ofString("{\"entity\":\"model_version\"}")).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(401, forged.statusCode());
                answers.add(forged.body());
                for (String path : List.of("/health", "/plugins", "/jobs", "/metrics")) {
                    answers.add(http.send(HttpRequest.newBuilder(URI.create(base + path)).build(),
                            HttpResponse.BodyHandlers.ofString()).body());
                }
                try (TopicReader reader = new TopicReader(service.bootstrapServers(), List.of(config.topics().optimized(),
                        config.topics().failed(), config.topics().registered()))) {
                    List<ConsumerRecord<byte[], byte[]>> records = reader.until(rs -> rs.stream()
                            .anyMatch(r -> r.topic().equals(config.topics().optimized())), Duration.ofSeconds(60));
                    for (ConsumerRecord<byte[], byte[]> r : records) {
                        events.add(new String(r.value(), StandardCharsets.UTF_8));
                    }
                    assertTrue(records.stream().anyMatch(r -> r.topic().equals(config.topics().optimized())
                            && CloudEventCodec.decode(r.value(), Map.of()).type().equals(EventTypes.MODEL_OPTIMIZED)));
                }
            }
        } finally {
            root.detachAppender(captured);
            console.forEach(root::addAppender);
            root.setLevel(rootLevel);
            kafka.setLevel(kafkaLevel);
        }
        ServiceConfig config = ServiceConfig.builder(dir.resolve("data"), dir.resolve("plugins"))
                .mlflowSecret(WEBHOOK_SECRET).eventGridKey(WEBHOOK_SECRET + "-grid")
                .kafkaOverrides(Map.of("ssl.key.password", KAFKA_PASSWORD)).build();
        answers.add(config.toString()); // printable settings mask their secrets too
        assertTrue(config.toString().contains("ssl.key.password=[hidden]"), config.toString());
        List<String> lines = captured.list.stream().map(e -> e.getFormattedMessage()
                + (e.getThrowableProxy() == null ? "" : " " + e.getThrowableProxy().getMessage())).toList();
        assertTrue(lines.size() > 50, "the host logged its work: " + lines.size() + " lines");
        assertTrue(lines.stream().anyMatch(l -> l.contains("ssl.key.password")), "Kafka printed its settings");
        for (String secret : List.of(WEBHOOK_SECRET, KAFKA_PASSWORD)) {
            assertFalse(lines.stream().anyMatch(l -> l.contains(secret)), "a log line holds " + secret);
            assertFalse(events.stream().anyMatch(e -> e.contains(secret)), "an event holds " + secret);
            assertFalse(answers.stream().anyMatch(a -> a.contains(secret)), "an HTTP answer holds " + secret);
        }
    }
}
