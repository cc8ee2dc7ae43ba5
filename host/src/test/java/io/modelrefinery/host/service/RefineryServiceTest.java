package io.modelrefinery.host.service;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelrefinery.api.event.EventTypes;
import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.host.event.CloudEvent;
import io.modelrefinery.host.event.CloudEventCodec;
import io.modelrefinery.host.event.EventJson;
import io.modelrefinery.host.event.OutcomeEvents;
import io.modelrefinery.host.kafka.EventTopics;
import io.modelrefinery.host.kafka.KafkaSettings;
import io.modelrefinery.host.kafka.OutcomePublisher;
import io.modelrefinery.host.osgi.TestBundles;
import io.modelrefinery.host.osgi.testplugin.TestResolver;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.host.testing.TopicReader;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The service end to end on a real embedded broker, a real plugin framework and real ONNX Runtime: events
 * in from Kafka and HTTP, outcomes and dead letters out, the HTTP API and metrics.
 */
class RefineryServiceTest {
    private static final String SECRET = "webhook-secret";
    private static final Duration WAIT = Duration.ofSeconds(60);

    @TempDir
    static Path dir;
    private static RefineryService service;
    private static OutcomePublisher registry;
    private static final String GRID_KEY = "grid-key-7f3a";
    private static EventTopics topics;
    private static Path inbox;
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll
    static void start() throws Exception {
        Path plugins = Files.createDirectories(dir.resolve("plugins"));
        TestBundles.drop(plugins, "versioned.jar", TestBundles.versioned("1.0.0", Map.of()));
        ServiceConfig config = ServiceConfig.builder(dir.resolve("data"), plugins)
                .kafkaPort(0).http("127.0.0.1", 0).workers(2).topics(EventTopics.defaults(), 2)
                .defaultPipeline(PipelineSpec.parse("test-versioned"))
                .retries(2, Duration.ofMillis(50)).mlflowSecret(SECRET).eventGridKey(GRID_KEY).stepTimeout(Duration.ofSeconds(3)).build();
        service = RefineryService.start(config);
        topics = config.topics();
        inbox = config.artifactRoots().get(0);
        Files.copy(TestModels.sampleCnnFile(), inbox.resolve("seed_cnn_binary.onnx"));
        registry = new OutcomePublisher(new KafkaSettings(service.bootstrapServers(), "tests", topics, 1, Map.of()),
                "test-registry");
    }

    @AfterAll
    static void stop() {
        registry.close();
        service.close();
    }

    private static String register(String name, String version, String uri, String pipeline) throws Exception {
        ModelRegistered registered = new ModelRegistered(name, version, uri, null, pipeline, null, null, null, null,
                Map.of());
        registry.publish(topics.registered(), name, OutcomeEvents.registered(registered, UUID.randomUUID().toString(),
                Instant.now())).get();
        return service.jobId(registered);
    }

    private static String jobIdOf(ConsumerRecord<byte[], byte[]> record) {
        JsonNode id = CloudEventCodec.decode(record.value(), Map.of()).data().get("jobId");
        return id == null || id.isNull() ? null : id.asText();
    }

    private static Optional<CloudEvent> outcomeOf(List<ConsumerRecord<byte[], byte[]>> records, String jobId) {
        return records.stream().filter(r -> jobId.equals(jobIdOf(r)))
                .map(r -> CloudEventCodec.decode(r.value(), Map.of())).findFirst();
    }

    private static CloudEvent awaitOutcome(String jobId) {
        try (TopicReader reader = new TopicReader(service.bootstrapServers(), List.of(topics.optimized(), topics.failed()))) {
            return outcomeOf(reader.until(rs -> outcomeOf(rs, jobId).isPresent(), WAIT), jobId).orElseThrow();
        }
    }

    private static HttpResponse<String> get(String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + service.httpPort() + path)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> post(String path, String body, Map<String, String> headers) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + service.httpPort() + path))
                .POST(HttpRequest.BodyPublishers.ofString(body));
        headers.forEach(request::header);
        return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void registeredEventsComeOutOptimizedWithTheirReports() throws Exception {
        String uri = inbox.resolve("seed_cnn_binary.onnx").toUri().toString();
        List<String> jobIds = List.of(register("cnn", "1", uri, null), register("cnn", "2", uri, null),
                register("cnn-b", "1", uri, null));

        for (String jobId : jobIds) {
            CloudEvent outcome = awaitOutcome(jobId);
            assertEquals(EventTypes.MODEL_OPTIMIZED, outcome.type(), outcome.data().toString());
            assertEquals(jobId + "/optimized", outcome.id());
            JsonNode report = outcome.data();
            assertEquals(14_760, report.at("/input/bytes").asLong());
            assertEquals(13_251, report.at("/input/gzipBytes").asLong());
            assertEquals(uri, report.at("/input/uri").asText());
            Path stored = Path.of(URI.create(report.at("/output/uri").asText()));
            assertTrue(Files.isRegularFile(stored), "output stored at " + stored);
            assertTrue(stored.startsWith(dir.resolve("data/artifacts")));
            assertEquals("test-versioned", report.at("/steps/0/transform").asText());
            JsonNode status = JSON.readTree(get("/jobs/" + jobId).body());
            assertEquals("optimized", status.get("state").asText());
        }
        String metrics = get("/metrics").body();
        assertTrue(metrics.contains("refinery_jobs_total{outcome=\"optimized\",pipeline=\"test-versioned\"}"), metrics);
        assertTrue(metrics.contains("refinery_step_duration_seconds_count{device=\"cpu\",transform=\"test-versioned\"}"));
        assertTrue(metrics.contains("refinery_model_bytes_count{side=\"in\"}"));
        assertTrue(metrics.contains("refinery_plugins{state=\"active\"} 1.0"), metrics);
        assertTrue(metrics.contains("kafka_consumer_fetch_manager_records_lag_max"), "consumer lag is exported");
        assertTrue(metrics.contains("refinery_consumer_group_lag{group="), "the group's lag is exported");
        assertTrue(metrics.contains("jvm_memory_used_bytes"));
    }

    @Test
    void badEventsFailToTheFailedAndDeadLetterTopicsAndTheNextEventIsProcessed() throws Exception {
        String good = inbox.resolve("seed_cnn_binary.onnx").toUri().toString();
        registry.send(topics.registered(), "junk".getBytes(), "this is not json".getBytes(), List.of()).get();
        registry.publish(topics.registered(), "odd", new CloudEvent("odd-1", "/elsewhere", "com.example.other", null, null,
                EventJson.tree(Map.of("name", "odd")))).get();
        String missing = register("ghost", "1", inbox.resolve("ghost.onnx").toUri().toString(), null);
        String unknown = register("cnn", "9", good, "no-such-transform");
        String failing = register("cnn", "10", good, "test-versioned(fail-with=boom)");
        String next = register("cnn", "11", good, null);

        assertEquals(EventTypes.MODEL_OPTIMIZED, awaitOutcome(next).type());
        assertEquals("fetch", awaitOutcome(missing).data().get("stage").asText());
        assertTrue(awaitOutcome(missing).data().get("error").asText().contains("ghost.onnx"));
        assertEquals("pipeline", awaitOutcome(unknown).data().get("stage").asText());
        assertEquals("unknown transform 'no-such-transform' (installed: test-versioned)",
                awaitOutcome(unknown).data().get("error").asText());
        CloudEvent stepFailure = awaitOutcome(failing);
        assertEquals("step:test-versioned", stepFailure.data().get("stage").asText());
        assertEquals(false, stepFailure.data().get("retriable").asBoolean());

        try (TopicReader reader = new TopicReader(service.bootstrapServers(), List.of(topics.failed(), topics.deadLetter()))) {
            List<ConsumerRecord<byte[], byte[]>> records = reader.until(rs -> rs.stream()
                    .filter(r -> r.topic().equals(topics.deadLetter())).count() >= 5, WAIT);
            List<CloudEvent> parseFailures = records.stream().filter(r -> r.topic().equals(topics.failed()))
                    .map(r -> CloudEventCodec.decode(r.value(), Map.of()))
                    .filter(e -> e.data().get("stage").asText().equals("parse")).toList();
            assertTrue(parseFailures.stream().anyMatch(e -> e.data().get("error").asText()
                    .startsWith("event is not valid JSON")), parseFailures.toString());
            assertTrue(parseFailures.stream().anyMatch(e -> e.data().get("error").asText()
                    .startsWith("unknown event type 'com.example.other'")));
            ConsumerRecord<byte[], byte[]> junk = records.stream().filter(r -> r.topic().equals(topics.deadLetter()))
                    .filter(r -> new String(r.value(), StandardCharsets.UTF_8).equals("this is not json")).findFirst()
                    .orElseThrow();
            Map<String, String> headers = new HashMap<>();
            for (Header h : junk.headers()) {
                headers.put(h.key(), new String(h.value(), StandardCharsets.UTF_8));
            }
            assertEquals(topics.registered(), headers.get("refinery.errors.topic"));
            assertEquals("parse", headers.get("refinery.errors.stage"));
            assertEquals("false", headers.get("refinery.errors.retriable"));
            assertTrue(headers.containsKey("refinery.errors.offset"));
            assertTrue(headers.containsKey("refinery.errors.partition"));
            assertTrue(headers.get("refinery.errors.exception.class.name").endsWith("MalformedEventException"));
            assertEquals("junk", new String(junk.key(), StandardCharsets.UTF_8));
        }
        String metrics = get("/metrics").body(); // counted before the dead letter is sent
        // Two of this test's records; the two Event Grid tests' bad elements may be counted too.
        assertTrue(metrics.matches("(?s).*refinery_job_failures_total\\{pipeline=\"unknown\",stage=\"parse\"\\} [234]\\.0.*"),
                metrics);
        assertTrue(metrics.contains("refinery_job_failures_total{pipeline=\"test-versioned\",stage=\"fetch\"} 1.0"));
        assertTrue(metrics.contains("refinery_job_failures_total{pipeline=\"test-versioned(fail-with=boom)\",stage=\"step:test-versioned\"} 1.0"),
                metrics);
    }

    @Test
    void aResultFailingItsGateIsPublishedAsFailedWithItsNumbersAndNotStored() throws Exception {
        String uri = inbox.resolve("seed_cnn_binary.onnx").toUri().toString();
        String jobId = register("cnn-gated", "1", uri, "test-versioned,gate(max-latency-ratio=0.001)");

        CloudEvent outcome = awaitOutcome(jobId);

        assertEquals(EventTypes.MODEL_FAILED, outcome.type());
        JsonNode data = outcome.data();
        assertEquals("gate", data.get("stage").asText());
        assertFalse(data.get("retriable").asBoolean());
        assertTrue(data.get("error").asText().startsWith("gate max-latency-ratio: median latency "), data.toString());
        JsonNode gate = data.at("/report/evaluation/gates/0");
        assertEquals("max-latency-ratio", gate.get("gate").asText());
        assertFalse(gate.get("passed").asBoolean());
        assertTrue(data.at("/report/output/uri").isNull(), "a rejected result is not stored");
        assertTrue(data.at("/report/output/bytes").asLong() > 14_000, "measured though not stored");
        String metrics = get("/metrics").body();
        assertTrue(metrics.contains("refinery_jobs_total{outcome=\"rejected\",pipeline=\"test-versioned,gate(max-latency-ratio=0.001)\"}"),
                metrics);
        assertTrue(metrics.contains("refinery_gate_checks_total{gate=\"max-latency-ratio\",result=\"failed\"}"));
        assertTrue(metrics.contains("refinery_latency_ratio_count"));
    }

    @Test
    void aStepThatHangsFailsAtItsTimeLimitAndTheWorkerTakesTheNextJob() throws Exception {
        String uri = inbox.resolve("seed_cnn_binary.onnx").toUri().toString();
        String hanging = register("cnn-hang", "1", uri, "test-versioned(sleep-ms=600000)");
        String next = register("cnn-hang", "2", uri, null);

        CloudEvent failed = awaitOutcome(hanging);
        assertEquals("step:test-versioned", failed.data().get("stage").asText());
        assertEquals("step 1 'test-versioned' failed: it ran longer than its time limit of 3 s",
                failed.data().get("error").asText());
        assertFalse(failed.data().get("retriable").asBoolean());
        assertEquals(EventTypes.MODEL_OPTIMIZED, awaitOutcome(next).type());
    }

    @Test
    void aRedeliveredEventGetsItsEarlierOutcomeAgainNotASecondRun() throws Exception {
        String uri = inbox.resolve("seed_cnn_binary.onnx").toUri().toString();
        String jobId = register("again", "1", uri, null);
        CloudEvent first = awaitOutcome(jobId);

        register("again", "1", uri, null); // the registry sends the same version again
        try (TopicReader reader = new TopicReader(service.bootstrapServers(), List.of(topics.optimized()))) {
            List<ConsumerRecord<byte[], byte[]>> both = reader.until(rs -> rs.stream()
                    .filter(r -> jobId.equals(jobIdOf(r))).count() == 2, WAIT);
            List<CloudEvent> outcomes = both.stream().filter(r -> jobId.equals(jobIdOf(r)))
                    .map(r -> CloudEventCodec.decode(r.value(), Map.of())).toList();
            assertEquals(first, outcomes.get(1), "the same event, id and time included");
        }
        assertTrue(get("/metrics").body().contains("refinery_jobs_total{outcome=\"duplicate\",pipeline=\"test-versioned\"} 1.0"));
    }

    @Test
    void httpRegistrationAnswersWithTheJobIdAndRefusesBadBodies() throws Exception {
        String body = "{\"name\":\"via-http\",\"version\":\"1\",\"uri\":\"" + inbox.resolve("seed_cnn_binary.onnx").toUri() + "\"}";
        HttpResponse<String> accepted = post("/models", body, Map.of("content-type", "application/json"));
        HttpResponse<String> noVersion = post("/models", "{\"name\":\"x\"}", Map.of());
        HttpResponse<String> notJson = post("/models", "name=x", Map.of());

        assertEquals(202, accepted.statusCode(), accepted.body());
        String jobId = JSON.readTree(accepted.body()).get("jobId").asText();
        assertEquals(EventTypes.MODEL_OPTIMIZED, awaitOutcome(jobId).type());
        assertEquals(400, noVersion.statusCode());
        assertEquals("{\"error\":\"event data has no 'version'\"}", noVersion.body());
        assertEquals(400, notJson.statusCode());
        assertEquals(404, get("/jobs/job-0000000000000000").statusCode());
    }

    @Test
    void healthAndPluginsDescribeTheInstance() throws Exception {
        // DOWN until the consumer has joined its group, which takes a few seconds on a busy machine.
        HttpResponse<String> health = get("/health");
        for (long deadline = System.nanoTime() + WAIT.toNanos(); health.statusCode() != 200 && System.nanoTime() < deadline; ) {
            Thread.sleep(200);
            health = get("/health");
        }
        JsonNode plugins = JSON.readTree(get("/plugins").body());

        assertEquals(200, health.statusCode(), health.body());
        assertEquals("UP", JSON.readTree(health.body()).get("status").asText());
        assertEquals("active", plugins.get(0).get("state").asText());
        assertEquals("test-versioned", plugins.get(0).at("/transforms/0/id").asText());
        assertEquals("fail-with", plugins.get(0).at("/transforms/0/params/1/name").asText());
    }

    private static String sign(String id, String timestamp, String body) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(SECRET.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
        byte[] raw = mac.doFinal((id + "." + timestamp + "." + body).getBytes(StandardCharsets.UTF_8));
        return "v1," + Base64.getEncoder().encodeToString(raw);
    }

    @Test
    void mlflowWebhooksAreVerifiedAndBecomeJobs() throws Exception {
        String body = "{\"entity\":\"model_version\",\"action\":\"created\",\"timestamp\":\"2026-11-23T12:00:00+00:00\","
                + "\"data\":{\"name\":\"from-mlflow\",\"version\":\"5\",\"source\":\"" + inbox.resolve("seed_cnn_binary.onnx").toUri()
                + "\",\"run_id\":\"r1\",\"tags\":{},\"description\":null}}";
        String ts = Long.toString(Instant.now().getEpochSecond());

        HttpResponse<String> ok = post("/webhooks/mlflow", body, Map.of("X-MLflow-Delivery-Id", "d-1",
                "X-MLflow-Timestamp", ts, "X-MLflow-Signature", sign("d-1", ts, body)));
        HttpResponse<String> forged = post("/webhooks/mlflow", body, Map.of("X-MLflow-Delivery-Id", "d-2",
                "X-MLflow-Timestamp", ts, "X-MLflow-Signature", sign("d-1", ts, body)));

        assertEquals(202, ok.statusCode(), ok.body());
        assertEquals(EventTypes.MODEL_OPTIMIZED, awaitOutcome(JSON.readTree(ok.body()).get("jobId").asText()).type());
        assertEquals(401, forged.statusCode());
        assertEquals("{\"error\":\"X-MLflow-Signature does not match the body\"}", forged.body());
    }

    @Test
    void azureRegistrationsWithoutUriAreResolvedByAPluginResolver() throws Exception {
        Map<String, Object> data = Map.of("modelName", "from-azure", "modelVersion", "2",
                "modelProperties", Map.of("test.path", inbox.resolve("seed_cnn_binary.onnx").toString()), "modelTags", Map.of());
        registry.publish(topics.registered(), "from-azure", new CloudEvent("az-1", TestResolver.SOURCE,
                EventTypes.AZURE_ML_MODEL_REGISTERED, null, null, EventJson.tree(data))).get();
        registry.publish(topics.registered(), "unknown-registry", new CloudEvent("az-2", "/other-workspace",
                EventTypes.AZURE_ML_MODEL_REGISTERED, null, null, EventJson.tree(Map.of("modelName", "lost",
                        "modelVersion", "1")))).get();

        ModelRegistered resolved = new ModelRegistered("from-azure", "2", null, null, null, null, null, null, null, Map.of());
        ModelRegistered lost = new ModelRegistered("lost", "1", null, null, null, null, null, null, null, Map.of());
        CloudEvent optimized = awaitOutcome(service.jobId(resolved));
        CloudEvent failed = awaitOutcome(service.jobId(lost));

        assertEquals(EventTypes.MODEL_OPTIMIZED, optimized.type());
        assertEquals(inbox.resolve("seed_cnn_binary.onnx").toUri().toString(), optimized.data().at("/input/uri").asText());
        assertEquals("resolve", failed.data().get("stage").asText());
        assertEquals("the event has no artifact URI and no artifact resolver knows source '/other-workspace'",
                failed.data().get("error").asText());
    }

    @Test
    void countersOfEveryKnownLabelSetAreThereBeforeTheFirstFailure() throws Exception {
        String metrics = get("/metrics").body();

        for (String line : List.of("refinery_jobs_total{outcome=\"failed\",pipeline=\"test-versioned\"}",
                "refinery_jobs_total{outcome=\"rejected\",pipeline=\"test-versioned\"}",
                "refinery_job_failures_total{pipeline=\"test-versioned\",stage=\"register\"}",
                "refinery_job_failures_total{pipeline=\"test-versioned\",stage=\"resolve\"}",
                "refinery_job_failures_total{pipeline=\"test-versioned\",stage=\"step:test-versioned\"}",
                "refinery_job_failures_total{pipeline=\"unknown\",stage=\"parse\"}",
                "refinery_gate_checks_total{gate=\"min-sqnr-db\",result=\"failed\"}",
                "refinery_events_ignored_total{reason=\"rejected\"}")) {
            assertTrue(metrics.contains(line + " "), line + " is exported from the start:\n" + metrics);
        }
    }

    @Test
    void eventGridWebhookAnswersBothValidationHandshakesAndRefusesAWrongKey() throws Exception {
        String validation = "[{\"id\":\"2d1781af-3a4c-4d7c-bd0c-e34b19da4e66\",\"topic\":\"/subscriptions/s/resourceGroups/g/"
                + "providers/Microsoft.MachineLearningServices/workspaces/ws\",\"subject\":\"\",\"data\":{\"validationCode\":"
                + "\"512d38b6-c7b8-40c8-89fe-f46f9e9622b6\",\"validationUrl\":\"https://rp-eastus2.eventgrid.azure.net:553/"
                + "eventsubscriptions/sub/validate?id=512d38b6\"},\"eventType\":\"Microsoft.EventGrid.SubscriptionValidationEvent\","
                + "\"eventTime\":\"2026-12-03T06:00:00Z\",\"metadataVersion\":\"1\",\"dataVersion\":\"1\"}]";
        HttpResponse<String> validated = post("/webhooks/eventgrid?key=" + GRID_KEY, validation,
                Map.of("aeg-event-type", "SubscriptionValidation"));
        HttpResponse<String> options = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + service.httpPort()
                        + "/webhooks/eventgrid?key=" + GRID_KEY)).method("OPTIONS", HttpRequest.BodyPublishers.noBody())
                .header("WebHook-Request-Origin", "eventgrid.azure.net").build(), HttpResponse.BodyHandlers.ofString());
        HttpResponse<String> wrongKey = post("/webhooks/eventgrid?key=guess", validation, Map.of());
        HttpResponse<String> noKey = post("/webhooks/eventgrid", validation, Map.of());
        HttpResponse<String> notJson = post("/webhooks/eventgrid?key=" + GRID_KEY, "validation please", Map.of());

        assertEquals(200, validated.statusCode(), validated.body());
        assertEquals("{\"validationResponse\":\"512d38b6-c7b8-40c8-89fe-f46f9e9622b6\"}", validated.body());
        assertEquals(200, options.statusCode());
        assertEquals("eventgrid.azure.net", options.headers().firstValue("WebHook-Allowed-Origin").orElse(null));
        assertEquals(401, wrongKey.statusCode());
        assertEquals("{\"error\":\"wrong 'key' query parameter\"}", wrongKey.body());
        assertEquals(401, noKey.statusCode());
        assertEquals(400, notJson.statusCode(), notJson.body());
    }

    @Test
    void anEventGridDeliveryOverHttpGivesEachEventItsJobAndDeadLettersABadOneAlone() throws Exception {
        String bad = "{\"specversion\":\"1.0\",\"id\":\"bad-http\",\"source\":\"" + TestResolver.SOURCE
                + "\",\"type\":\"Microsoft.MachineLearningServices.ModelRegistered\",\"data\":{\"ModelName\":\"http-no-version\"}}";
        HttpResponse<String> delivered = post("/webhooks/eventgrid?key=" + GRID_KEY, eventGridArray("http-a", bad, "http-b"),
                Map.of("content-type", "application/cloudevents-batch+json"));

        assertEquals(200, delivered.statusCode(), delivered.body());
        JsonNode events = JSON.readTree(delivered.body()).get("events");
        assertEquals(List.of("accepted", "dead-letter", "accepted"), List.of(events.get(0).get("status").asText(),
                events.get(1).get("status").asText(), events.get(2).get("status").asText()));
        assertEquals("event data has no 'ModelVersion'", events.get(1).get("error").asText());
        for (int i : new int[] {0, 2}) {
            CloudEvent outcome = awaitOutcome(events.get(i).get("jobId").asText());
            assertEquals(EventTypes.MODEL_OPTIMIZED, outcome.type(), outcome.data().toString());
        }
        try (TopicReader reader = new TopicReader(service.bootstrapServers(), List.of(topics.deadLetter()))) {
            ConsumerRecord<byte[], byte[]> letter = reader.until(rs -> rs.stream().anyMatch(r -> new String(r.value(),
                    StandardCharsets.UTF_8).contains("http-no-version")), WAIT).stream()
                    .filter(r -> new String(r.value(), StandardCharsets.UTF_8).contains("http-no-version")).findFirst()
                    .orElseThrow();
            assertEquals(bad, new String(letter.value(), StandardCharsets.UTF_8), "the element alone");
            assertEquals("1", new String(letter.headers().lastHeader("refinery.errors.batch.index").value(),
                    StandardCharsets.UTF_8));
        }
    }

    /** An Event Grid delivery: a JSON array of Azure ML CloudEvents, in one record. */
    private static String eventGridArray(String... models) {
        StringBuilder out = new StringBuilder("[");
        for (String model : models) {
            if (out.length() > 1) {
                out.append(',');
            }
            out.append(model.startsWith("{") ? model : "{\"specversion\":\"1.0\",\"id\":\"" + UUID.randomUUID() + "\",\"source\":\""
                    + TestResolver.SOURCE + "\",\"type\":\"Microsoft.MachineLearningServices.ModelRegistered\",\"data\":{"
                    + "\"ModelName\":\"" + model + "\",\"ModelVersion\":3,\"ModelProperties\":{\"test.path\":\""
                    + inbox.resolve("seed_cnn_binary.onnx") + "\"}}}");
        }
        return out.append(']').toString();
    }

    @Test
    void eachEventOfAnEventGridArrayIsItsOwnJobAndABadOneIsDeadLetteredAlone() throws Exception {
        String bad = "{\"specversion\":\"1.0\",\"id\":\"bad\",\"source\":\"" + TestResolver.SOURCE
                + "\",\"type\":\"Microsoft.MachineLearningServices.ModelRegistered\",\"data\":{\"ModelName\":\"no-version\"}}";
        registry.send(topics.registered(), "grid".getBytes(), eventGridArray("grid-a", bad, "grid-b")
                .getBytes(StandardCharsets.UTF_8), List.of()).get();

        for (String name : List.of("grid-a", "grid-b")) {
            CloudEvent outcome = awaitOutcome(service.jobId(new ModelRegistered(name, "3", null, null, null, null, null,
                    null, null, Map.of())));
            assertEquals(EventTypes.MODEL_OPTIMIZED, outcome.type(), outcome.data().toString());
        }
        try (TopicReader reader = new TopicReader(service.bootstrapServers(), List.of(topics.deadLetter()))) {
            ConsumerRecord<byte[], byte[]> letter = reader.until(rs -> rs.stream().anyMatch(r -> new String(r.value(),
                    StandardCharsets.UTF_8).contains("no-version")), WAIT).stream()
                    .filter(r -> new String(r.value(), StandardCharsets.UTF_8).contains("no-version")).findFirst().orElseThrow();
            assertEquals(bad, new String(letter.value(), StandardCharsets.UTF_8), "the element alone");
            assertEquals("1", new String(letter.headers().lastHeader("refinery.errors.batch.index").value(),
                    StandardCharsets.UTF_8));
            assertEquals("event data has no 'ModelVersion'", new String(letter.headers()
                    .lastHeader("refinery.errors.exception.message").value(), StandardCharsets.UTF_8));
        }
    }

    @Test
    void aResultIsRegisteredBackWhenTheEventAsksAndTheRegistrysEventAboutItStartsNothing() throws Exception {
        Path registryDir = dir.resolve("test-registry");
        Map<String, Object> data = Map.of("modelName", "write-back", "modelVersion", "1", "modelProperties", Map.of(
                "test.path", inbox.resolve("seed_cnn_binary.onnx").toString(), "test.registry", registryDir.toString()),
                "modelTags", Map.of("refinery.register", "true"));
        registry.publish(topics.registered(), "write-back", new CloudEvent("wb-1", TestResolver.SOURCE,
                EventTypes.AZURE_ML_MODEL_REGISTERED, null, null, EventJson.tree(data))).get();
        String jobId = service.jobId(new ModelRegistered("write-back", "1", null, null, null, null, null, null, null, Map.of()));

        CloudEvent outcome = awaitOutcome(jobId);

        assertEquals(EventTypes.MODEL_OPTIMIZED, outcome.type(), outcome.data().toString());
        assertEquals("optimized-" + jobId, outcome.data().at("/registered/version").asText());
        List<Path> records;
        try (var files = Files.list(registryDir)) {
            records = files.toList();
        }
        assertEquals(1, records.size());
        String record = Files.readString(records.get(0));
        assertTrue(record.contains("refinery.job-id=" + jobId + "\n"), record);
        assertTrue(record.contains("refinery.source-version=1\n"), record);
        assertTrue(record.contains("refinery.pipeline=test-versioned\n"), record);
        assertTrue(record.contains("model-bytes=" + outcome.data().at("/output/bytes").asLong() + "\n"), record);

        // The registry announces the new version, with the tags the refinery gave it: no job.
        Map<String, Object> echo = Map.of("modelName", "write-back", "modelVersion", "optimized-" + jobId,
                "modelTags", Map.of("refinery.job-id", jobId));
        registry.publish(topics.registered(), "write-back", new CloudEvent("wb-2", TestResolver.SOURCE,
                EventTypes.AZURE_ML_MODEL_REGISTERED, null, null, EventJson.tree(echo))).get();
        String metrics = "";
        for (long deadline = System.nanoTime() + WAIT.toNanos(); System.nanoTime() < deadline; Thread.sleep(200)) {
            metrics = get("/metrics").body();
            if (metrics.contains("refinery_events_ignored_total{reason=\"refinery-result\"} 1.0")) {
                break;
            }
        }
        assertTrue(metrics.contains("refinery_events_ignored_total{reason=\"refinery-result\"} 1.0"), metrics);
        assertEquals(404, get("/jobs/" + service.jobId(new ModelRegistered("write-back", "optimized-" + jobId, null, null,
                null, null, null, null, null, Map.of()))).statusCode());
    }

    @Test
    void aRegistryThatStaysDownIsRetriedThenTheJobFailsAtRegisterWithItsReport() throws Exception {
        Map<String, Object> data = Map.of("modelName", "write-back-down", "modelVersion", "1", "modelProperties", Map.of(
                "test.path", inbox.resolve("seed_cnn_binary.onnx").toString(), "test.registry-down", "yes"),
                "modelTags", Map.of("refinery.register", "true"));
        registry.publish(topics.registered(), "write-back-down", new CloudEvent("wbd-1", TestResolver.SOURCE,
                EventTypes.AZURE_ML_MODEL_REGISTERED, null, null, EventJson.tree(data))).get();

        CloudEvent outcome = awaitOutcome(service.jobId(new ModelRegistered("write-back-down", "1", null, null, null, null,
                null, null, null, Map.of())));

        assertEquals(EventTypes.MODEL_FAILED, outcome.type());
        assertEquals("register", outcome.data().get("stage").asText());
        assertTrue(outcome.data().get("retriable").asBoolean());
        assertEquals("the test registry is down", outcome.data().get("error").asText());
        assertTrue(outcome.data().at("/report/output/uri").asText().startsWith("file:"), "the stored result is named");
    }
}
