package io.modelrefinery.distribution;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelrefinery.host.event.CloudEvent;
import io.modelrefinery.host.testing.TopicReader;
import io.modelrefinery.plugin.mlflow.MlflowTestServer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
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
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The assembled refinery ({@code dist/refinery.jar serve} with the bundled plugins, the MLflow plugin
 * among them) against the MLflow test server, end to end through its embedded Kafka: MLflow's signed
 * {@code model_version.created} webhook with an MLflow 3 {@code models:/m-…} source becomes an optimized
 * model registered back as a new version, once, across a redelivery, a restart and a fresh replica; the
 * webhook that registration fires starts nothing; a missing model fails at once, a failing or unreachable
 * tracking server is retried and then dead-lettered with the reason.
 */
class MlflowRegistryIT {
    private static final String SECRET = "mlflow-webhook-secret";
    private static final String TOKEN = "tracking-token";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @TempDir
    Path dir;

    /** A service registering back to {@code mlflow}, which delivers its webhooks to it. */
    private RegistryService start(MlflowTestServer mlflow, Path data, int round) throws Exception {
        Path token = Files.writeString(dir.resolve("tracking-token"), TOKEN + "\n");
        RegistryService service = startWith(mlflow.uri(), data, round, "--mlflow-tracking-token-file", token.toString(),
                "--mlflow-register", "--mlflow-register-alias", "optimized");
        mlflow.webhook(service.uri("/webhooks/mlflow"), SECRET);
        return service;
    }

    private RegistryService startWith(URI tracking, Path data, int round, String... extra) throws Exception {
        Path secret = Files.writeString(dir.resolve("webhook-secret"), SECRET + "\n");
        List<String> args = new ArrayList<>(List.of("--mlflow-secret-file", secret.toString(),
                "--mlflow-tracking-uri", tracking.toString()));
        args.addAll(List.of(extra));
        return RegistryService.start(data, dir.resolve("service-" + round + ".log"), args.toArray(String[]::new));
    }

    /** Re-sends a webhook body as MLflow would deliver it again: a new delivery id, signed anew. */
    private static HttpResponse<String> deliver(RegistryService service, String body) throws Exception {
        String id = UUID.randomUUID().toString();
        String ts = Long.toString(Instant.now().getEpochSecond());
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(SECRET.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
        String signature = "v1," + Base64.getEncoder().encodeToString(mac.doFinal((id + "." + ts + "." + body)
                .getBytes(StandardCharsets.UTF_8)));
        return HTTP.send(HttpRequest.newBuilder(service.uri("/webhooks/mlflow")).header("Content-Type", "application/json")
                .header("X-MLflow-Delivery-Id", id).header("X-MLflow-Timestamp", ts).header("X-MLflow-Signature", signature)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String jobIdOf(HttpResponse<String> accepted) throws Exception {
        assertEquals(202, accepted.statusCode(), accepted.body());
        return JSON.readTree(accepted.body()).get("jobId").asText();
    }

    private static String webhookBody(String name, String version, String source) {
        ObjectNode payload = JSON.createObjectNode().put("entity", "model_version").put("action", "created")
                .put("timestamp", Instant.now().toString());
        payload.putObject("data").put("name", name).put("version", version).put("source", source).put("run_id", "r")
                .putObject("tags");
        return payload.toString();
    }

    private static long requestsTo(MlflowTestServer mlflow, String path) {
        return mlflow.requests().stream().filter(r -> r.path().equals(path)).count();
    }

    @Test
    void aWebhookOfAnMlflow3ModelIsOptimizedAndRegisteredBackOnce() throws Exception {
        try (MlflowTestServer mlflow = MlflowTestServer.withToken(TOKEN)) {
            String run = mlflow.createRun("1");
            String modelId = mlflow.logModel("1", "model", run, RegistryService.mlflowOnnxModel());
            Path data = dir.resolve("data");
            RegistryService service = start(mlflow, data, 0);
            try {
                // What mlflow.register_model("models:/m-…", "seed-cnn") does: the server fires the signed webhook.
                mlflow.registerVersion("seed-cnn", "models:/" + modelId, modelId, run, Map.of());
                MlflowTestServer.Delivery first = awaitDelivery(mlflow, 1);
                assertEquals(202, first.status(), "the webhook is accepted");

                List<ObjectNode> versions = awaitVersions(mlflow, "seed-cnn", 2);
                CloudEvent optimized = service.outcomes(jobIdOfVersion(versions.get(1)), 1).get(0);
                assertEquals("io.modelrefinery.model.optimized", optimized.type(), optimized.data().toString());
                JsonNode report = optimized.data();
                assertEquals("models:/" + modelId, report.at("/input/uri").asText());
                assertEquals("seed-cnn", report.at("/registered/name").asText());
                assertEquals("2", report.at("/registered/version").asText());
                assertEquals("models:/seed-cnn/2", report.at("/registered/uri").asText());
                assertTrue(report.at("/output/bytes").asLong() < report.at("/input/bytes").asLong(), report.toString());
                ObjectNode registered = versions.get(1);
                assertEquals(report.get("jobId").asText(), tag(registered, "refinery.job-id"));
                assertEquals("1", tag(registered, "refinery.source-version"));
                assertEquals("fp16", tag(registered, "refinery.pipeline"));
                assertEquals(report.at("/output/bytes").asText(), tag(registered, "refinery.bytes-after"));
                assertEquals("2", mlflow.aliases("seed-cnn").get("optimized"));
                String newModel = registered.get("model_id").asText();
                assertTrue(mlflow.loggedModelFiles(newModel).containsKey("refinery-report.json"));
                assertTrue(mlflow.requests().stream().filter(r -> r.path().startsWith("/api/"))
                        .allMatch(r -> ("Bearer " + TOKEN).equals(r.header("authorization"))), "every call carries the token");

                // The registration fired a webhook of its own: acknowledged, and nothing optimized again.
                MlflowTestServer.Delivery second = awaitDelivery(mlflow, 2);
                assertEquals(200, second.status());
                assertTrue(second.body().contains("\"refinery.job-id\""), second.body());

                // MLflow delivers the first webhook again (its retries): the kept outcome, no new version.
                String jobId = jobIdOf(deliver(service, first.body()));
                assertEquals(report.get("jobId").asText(), jobId);
                List<CloudEvent> both = service.outcomes(jobId, 2);
                assertEquals(both.get(0), both.get(1), "the same outcome published again");

                // A model that does not exist fails at once.
                String missing = jobIdOf(deliver(service, webhookBody("ghost", "1", "models:/m-0000000000000000000000000000dead")));
                JsonNode ghost = service.outcomes(missing, 1).get(0).data();
                assertEquals("resolve", ghost.get("stage").asText());
                assertFalse(ghost.get("retriable").asBoolean());
                assertTrue(ghost.get("error").asText().contains("404 RESOURCE_DOES_NOT_EXIST"), ghost.toString());
                assertEquals(1, requestsTo(mlflow, "/api/2.0/mlflow/logged-models/m-0000000000000000000000000000dead"));

                // A tracking server answering 500 is retried (3 attempts), then dead-lettered with the reason.
                String flaky = mlflow.logModel("1", "model", run, RegistryService.mlflowOnnxModel());
                mlflow.failNext("/api/2.0/mlflow/logged-models/" + flaky, 500, "INTERNAL_ERROR", 100);
                String failing = jobIdOf(deliver(service, webhookBody("flaky", "1", "models:/" + flaky)));
                JsonNode failed = service.outcomes(failing, 1).get(0).data();
                assertEquals("resolve", failed.get("stage").asText());
                assertTrue(failed.get("retriable").asBoolean());
                assertTrue(failed.get("error").asText().contains("answered 500 INTERNAL_ERROR"), failed.toString());
                assertEquals(3, requestsTo(mlflow, "/api/2.0/mlflow/logged-models/" + flaky));
                Map<String, String> headers = deadLetterHeaders(service, failing);
                assertEquals("resolve", headers.get("refinery.errors.stage"));
                assertEquals("true", headers.get("refinery.errors.retriable"));
                assertTrue(headers.get("refinery.errors.exception.message").contains("INTERNAL_ERROR"));
            } finally {
                service.stop();
            }

            // A restart with the same data: the kept outcome answers the redelivery.
            service = start(mlflow, data, 1);
            try {
                String jobId = jobIdOf(deliver(service, mlflow.deliveries().get(0).body()));
                List<CloudEvent> again = service.outcomes(jobId, 1);
                assertEquals("2", again.get(0).data().at("/registered/version").asText());
            } finally {
                service.stop();
            }
            // A fresh replica (its own empty data, as a Kubernetes emptyDir): it optimizes again, and finds the
            // version it registered in MLflow by the job id instead of registering a third.
            service = start(mlflow, dir.resolve("replica"), 2);
            try {
                String jobId = jobIdOf(deliver(service, mlflow.deliveries().get(0).body()));
                JsonNode report = service.outcomes(jobId, 1).get(0).data();
                assertEquals("2", report.at("/registered/version").asText(), report.toString());
                assertEquals(2, mlflow.versions("seed-cnn").size());
            } finally {
                service.stop();
            }

            // An unreachable tracking server: retried, then dead-lettered with the reason.
            URI nobody = URI.create("http://127.0.0.1:" + RegistryService.freePort()); // nothing listens there
            RegistryService lonely = startWith(nobody, dir.resolve("unreachable"), 3);
            try {
                String jobId = jobIdOf(deliver(lonely, webhookBody("seed-cnn", "1", "models:/" + modelId)));
                JsonNode failed = lonely.outcomes(jobId, 1).get(0).data();
                assertEquals("resolve", failed.get("stage").asText());
                assertTrue(failed.get("retriable").asBoolean());
                assertTrue(failed.get("error").asText().contains("cannot connect"), failed.toString());
                assertEquals("resolve", deadLetterHeaders(lonely, jobId).get("refinery.errors.stage"));
            } finally {
                lonely.stop();
            }
        }
    }

    private static Map<String, String> deadLetterHeaders(RegistryService service, String jobId) {
        try (TopicReader reader = new TopicReader(service.bootstrap(), List.of("refinery.model.registered.dlq"))) {
            ConsumerRecord<byte[], byte[]> record = reader.until(rs -> rs.stream().anyMatch(r -> jobId.equals(header(r,
                    "refinery.errors.job.id"))), RegistryService.WAIT).stream()
                    .filter(r -> jobId.equals(header(r, "refinery.errors.job.id"))).findFirst().orElseThrow();
            Map<String, String> headers = new HashMap<>();
            for (Header h : record.headers()) {
                headers.put(h.key(), new String(h.value(), StandardCharsets.UTF_8));
            }
            return headers;
        }
    }

    private static String header(ConsumerRecord<byte[], byte[]> record, String key) {
        Header h = record.headers().lastHeader(key);
        return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    private static MlflowTestServer.Delivery awaitDelivery(MlflowTestServer mlflow, int count) throws InterruptedException {
        long deadline = System.nanoTime() + RegistryService.WAIT.toNanos();
        while (mlflow.deliveries().size() < count) {
            assertTrue(System.nanoTime() < deadline, "no webhook delivery " + count);
            Thread.sleep(100);
        }
        return mlflow.deliveries().get(count - 1);
    }

    private static List<ObjectNode> awaitVersions(MlflowTestServer mlflow, String name, int count) throws InterruptedException {
        long deadline = System.nanoTime() + RegistryService.WAIT.toNanos();
        while (mlflow.versions(name).size() < count) {
            assertTrue(System.nanoTime() < deadline, "no version " + count + " of " + name);
            Thread.sleep(200);
        }
        Thread.sleep(2000); // a second registration would show up in this time
        return mlflow.versions(name);
    }

    private static String jobIdOfVersion(ObjectNode version) {
        return tag(version, "refinery.job-id");
    }

    private static String tag(JsonNode version, String key) {
        for (JsonNode t : version.path("tags")) {
            if (t.path("key").asText().equals(key)) {
                return t.path("value").asText();
            }
        }
        return null;
    }
}
