package io.modelrefinery.distribution;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelrefinery.host.event.CloudEvent;
import io.modelrefinery.host.event.CloudEventCodec;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.host.testing.TopicReader;
import io.modelrefinery.plugin.mlflow.AzureMlTestServer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The assembled refinery ({@code dist/refinery.jar serve} with the bundled MLflow plugin) against an Azure
 * Machine Learning workspace ({@link AzureMlTestServer}): Event Grid delivers Azure ML's
 * {@code ModelRegistered} to {@code POST /webhooks/eventgrid}, in the CloudEvents schema and in the Event
 * Grid schema; each event is looked up by name and version through the workspace's MLflow endpoint, its
 * {@code azureml:} artifacts are read through the artifact service and the storage SAS links (the storage
 * a host of its own, allowed by the operator), and the model is optimized. A version that does not exist
 * fails at {@code resolve} at once.
 */
class AzureMlRegistryIT {
    private static final String TOKEN = "entra-id-access-token";
    private static final String GRID_KEY = "event-grid-key";
    private static final Duration WAIT = Duration.ofSeconds(120);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @TempDir
    Path dir;

    private static int freePort() throws Exception {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    private record Service(Process process, int httpPort, int kafkaPort) {
        String bootstrap() {
            return "127.0.0.1:" + kafkaPort;
        }

        void stop() throws InterruptedException {
            process.destroy();
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
            }
        }
    }

    private Service start(AzureMlTestServer azure) throws Exception {
        Path key = Files.writeString(dir.resolve("eventgrid-key"), GRID_KEY + "\n");
        Path token = Files.writeString(dir.resolve("tracking-token"), TOKEN + "\n");
        int http = freePort();
        int kafka = freePort();
        // The workspace host and the storage account are two hosts, each allowed by name, as
        // <region>.api.azureml.ms and <account>.blob.core.windows.net are (here both on the loopback address).
        List<String> command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar", Cli.dist().resolve("refinery.jar").toString(), "serve", "--data-dir", dir.resolve("data").toString(),
                "--http-port", Integer.toString(http), "--kafka-port", Integer.toString(kafka), "--partitions", "1",
                "--pipeline", "fp16", "--gate", "max-latency-ratio=2", "--retries", "2",
                "--eventgrid-key-file", key.toString(), "--mlflow-tracking-uri", azure.trackingUri().toString(),
                "--mlflow-tracking-token-file", token.toString(),
                "--allow-private-host", "127.0.0.1", "--allow-private-host", "localhost");
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(dir.resolve("service.log").toFile());
        builder.environment().remove("REFINERY_PLUGINS_DIR");
        Service service = new Service(builder.start(), http, kafka);
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (true) {
            assertTrue(service.process().isAlive(), "serve exited: " + log());
            try {
                if (HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + http + "/health")).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return service;
                }
            } catch (java.io.IOException e) {
                // not listening yet
            }
            assertTrue(System.nanoTime() < deadline, "serve did not become healthy: " + log());
            Thread.sleep(250);
        }
    }

    private String log() {
        try {
            return Files.readString(dir.resolve("service.log"));
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }

    private static Map<String, byte[]> mlflowOnnxModel() throws Exception {
        Map<String, byte[]> files = new TreeMap<>();
        try (Stream<Path> list = Files.list(TestModels.root().resolve("plugins/mlflow/src/test/fixtures/mlflow-onnx-model"))) {
            for (Path f : list.toList()) {
                files.put(f.getFileName().toString(), Files.readAllBytes(f));
            }
        }
        return files;
    }

    /** Event Grid's webhook delivery of {@code body}; the job ids of its accepted elements, in order. */
    private static List<String> deliver(Service service, String body) throws Exception {
        HttpResponse<String> answer = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + service.httpPort()
                        + "/webhooks/eventgrid?key=" + GRID_KEY)).header("Content-Type", "application/json")
                .header("aeg-event-type", "Notification").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, answer.statusCode(), answer.body());
        List<String> jobs = new ArrayList<>();
        for (JsonNode element : JSON.readTree(answer.body()).path("events")) {
            assertEquals("accepted", element.path("status").asText(), answer.body());
            jobs.add(element.path("jobId").asText());
        }
        return jobs;
    }

    private static JsonNode outcome(Service service, String jobId) {
        try (TopicReader reader = new TopicReader(service.bootstrap(), List.of("refinery.model.optimized",
                "refinery.model.failed"))) {
            for (ConsumerRecord<byte[], byte[]> r : reader.until(rs -> rs.stream().anyMatch(r -> jobId.equals(
                    CloudEventCodec.decode(r.value(), Map.of()).data().path("jobId").asText())), WAIT)) {
                CloudEvent e = CloudEventCodec.decode(r.value(), Map.of());
                if (jobId.equals(e.data().path("jobId").asText())) {
                    return JSON.createObjectNode().put("type", e.type()).set("data", e.data());
                }
            }
        }
        throw new AssertionError("no outcome of " + jobId);
    }

    @Test
    void azureMlRegistrationsDeliveredByEventGridAreResolvedFromTheWorkspaceAndOptimized() throws Exception {
        try (AzureMlTestServer azure = AzureMlTestServer.start(TOKEN).storageHost("localhost")) {
            String run = azure.logRunArtifacts("a7c1e2f0-5b3d-4e6a-8c9f-1d2e3f4a5b6c", "sincere_lamp_4k2x9d", "model",
                    mlflowOnnxModel());
            azure.mlflow().registerVersion("seed-cnn", run, null, null, Map.of());
            azure.mlflow().registerVersion("seed-cnn", azure.uploadLocal("261130T090000-3f2a1b0c", "seed_cnn",
                    mlflowOnnxModel()), null, null, Map.of());
            Service service = start(azure);
            try {
                // The CloudEvents schema, ModelVersion a number (Azure ML's documented example form).
                String cloudEvents = "[{\"specversion\":\"1.0\",\"id\":\"" + UUID.randomUUID() + "\",\"source\":\""
                        + AzureMlTestServer.WORKSPACE + "\",\"subject\":\"models/seed-cnn:1\",\"type\":"
                        + "\"Microsoft.MachineLearningServices.ModelRegistered\",\"time\":\"2026-11-30T09:00:00.9584103Z\","
                        + "\"data\":{\"ModelName\":\"seed-cnn\",\"ModelVersion\":1,\"ModelTags\":{},\"ModelProperties\":{}}}]";
                // The Event Grid schema: version 2 (the container form), and a version the workspace does not have.
                String eventGrid = "[" + eventGridEvent("2") + "," + eventGridEvent("9") + "]";

                String first = deliver(service, cloudEvents).get(0);
                List<String> grid = deliver(service, eventGrid);

                for (String jobId : List.of(first, grid.get(0))) {
                    JsonNode outcome = outcome(service, jobId);
                    assertEquals("io.modelrefinery.model.optimized", outcome.path("type").asText(), outcome.toString());
                    JsonNode report = outcome.path("data");
                    assertTrue(report.at("/output/bytes").asLong() < report.at("/input/bytes").asLong(), report.toString());
                }
                JsonNode missing = outcome(service, grid.get(1));
                assertEquals("io.modelrefinery.model.failed", missing.path("type").asText(), missing.toString());
                assertEquals("resolve", missing.at("/data/stage").asText());
                assertFalse(missing.at("/data/retriable").asBoolean());
                assertTrue(missing.at("/data/error").asText().contains("404 RESOURCE_DOES_NOT_EXIST"), missing.toString());

                assertTrue(azure.requests().stream().anyMatch(r -> r.path().startsWith("/history/v1.0/")
                        && r.path().endsWith("/artifacts/contentinfo")), "the run's artifacts through the run history API");
                assertTrue(azure.requests().stream().anyMatch(r -> r.path().startsWith("/artifact/v2.0/")
                        && r.path().endsWith("/artifacts/LocalUpload/261130T090000-3f2a1b0c/contentinfo")));
                assertTrue(azure.requests().stream().allMatch(r -> ("Bearer " + TOKEN).equals(r.header("authorization"))),
                        "every workspace call carries the token");
                assertFalse(azure.storageRequests().isEmpty());
                assertTrue(azure.storageRequests().stream().allMatch(r -> r.header("authorization") == null),
                        "storage gets the SAS, never the token");
            } finally {
                service.stop();
            }
        }
    }

    private static String eventGridEvent(String version) {
        return "{\"topic\":\"" + AzureMlTestServer.WORKSPACE + "\",\"subject\":\"models/seed-cnn:" + version + "\","
                + "\"eventType\":\"Microsoft.MachineLearningServices.ModelRegistered\",\"eventTime\":"
                + "\"2026-11-30T09:05:00.9584103Z\",\"id\":\"" + UUID.randomUUID() + "\",\"data\":{\"modelName\":"
                + "\"seed-cnn\",\"modelVersion\":\"" + version + "\",\"modelTags\":{},\"modelProperties\":{}},"
                + "\"dataVersion\":\"2\",\"metadataVersion\":\"1\"}";
    }
}
