package io.modelrefinery.distribution;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelrefinery.host.event.CloudEvent;
import io.modelrefinery.plugin.mlflow.AzureMlTestServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

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
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @TempDir
    Path dir;

    private RegistryService start(AzureMlTestServer azure) throws Exception {
        Path key = Files.writeString(dir.resolve("eventgrid-key"), GRID_KEY + "\n");
        Path token = Files.writeString(dir.resolve("tracking-token"), TOKEN + "\n");
        // The workspace host and the storage account are two hosts, each allowed by name, as
        // <region>.api.azureml.ms and <account>.blob.core.windows.net are (here both on the loopback address).
        return RegistryService.start(dir.resolve("data"), dir.resolve("service.log"), "--eventgrid-key-file", key.toString(),
                "--mlflow-tracking-uri", azure.trackingUri().toString(), "--mlflow-tracking-token-file", token.toString(),
                "--allow-private-host", "localhost");
    }

    /** Event Grid's webhook delivery of {@code body}; the job ids of its accepted elements, in order. */
    private static List<String> deliver(RegistryService service, String body) throws Exception {
        HttpResponse<String> answer = HTTP.send(HttpRequest.newBuilder(service.uri("/webhooks/eventgrid?key=" + GRID_KEY))
                .header("Content-Type", "application/json").header("aeg-event-type", "Notification").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, answer.statusCode(), answer.body());
        List<String> jobs = new ArrayList<>();
        for (JsonNode element : JSON.readTree(answer.body()).path("events")) {
            assertEquals("accepted", element.path("status").asText(), answer.body());
            jobs.add(element.path("jobId").asText());
        }
        return jobs;
    }

    @Test
    void azureMlRegistrationsDeliveredByEventGridAreResolvedFromTheWorkspaceAndOptimized() throws Exception {
        try (AzureMlTestServer azure = AzureMlTestServer.start(TOKEN).storageHost("localhost")) {
            String run = azure.logRunArtifacts("a7c1e2f0-5b3d-4e6a-8c9f-1d2e3f4a5b6c", "sincere_lamp_4k2x9d", "model",
                    RegistryService.mlflowOnnxModel());
            azure.mlflow().registerVersion("seed-cnn", run, null, null, Map.of());
            azure.mlflow().registerVersion("seed-cnn", azure.uploadLocal("261130T090000-3f2a1b0c", "seed_cnn",
                    RegistryService.mlflowOnnxModel()), null, null, Map.of());
            RegistryService service = start(azure);
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
                    CloudEvent outcome = service.outcomes(jobId, 1).get(0);
                    assertEquals("io.modelrefinery.model.optimized", outcome.type(), outcome.data().toString());
                    JsonNode report = outcome.data();
                    assertTrue(report.at("/output/bytes").asLong() < report.at("/input/bytes").asLong(), report.toString());
                }
                CloudEvent missing = service.outcomes(grid.get(1), 1).get(0);
                assertEquals("io.modelrefinery.model.failed", missing.type(), missing.data().toString());
                assertEquals("resolve", missing.data().path("stage").asText());
                assertFalse(missing.data().path("retriable").asBoolean());
                assertTrue(missing.data().path("error").asText().contains("404 RESOURCE_DOES_NOT_EXIST"),
                        missing.data().toString());

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
