package io.modelrefinery.host.event;

import io.modelrefinery.api.event.EventTypes;
import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.host.pipeline.PipelineSyntaxException;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

class RegistryAdaptersTest {
    private static CloudEvent event(String type, Object data) {
        return new CloudEvent("e", "/registry/ws-1", type, null, null, EventJson.tree(data));
    }

    @Test
    void readsTheRefinerysOwnEvent() {
        ModelRegistered r = RegistryAdapters.toRegistered(event(EventTypes.MODEL_REGISTERED, Map.of("name", "cnn",
                "version", "7", "uri", "file:///models/cnn.onnx", "pipeline", "fp16", "evalUri", "https://data/e.npz",
                "tags", Map.of("team", "vision"))));

        assertEquals(new ModelRegistered("cnn", "7", "file:///models/cnn.onnx", null, "fp16", null, "https://data/e.npz",
                null, "/registry/ws-1", Map.of("team", "vision")), r);
    }

    @Test
    void mapsAzureMachineLearningWhichHasNoUri() {
        ModelRegistered r = RegistryAdapters.toRegistered(event(EventTypes.AZURE_ML_MODEL_REGISTERED, Map.of(
                "modelName", "churn", "modelVersion", "4", "modelTags", Map.of("refinery.pipeline", "graph-optimize"),
                "modelProperties", Map.of("framework", "onnx"))));

        assertEquals("churn", r.name());
        assertEquals("4", r.version());
        assertNull(r.uri());
        assertEquals("graph-optimize", r.pipeline());
        assertEquals("onnx", r.tags().get("framework"));
        assertEquals("/registry/ws-1", r.source());
    }

    @Test
    void mapsMlflowModelVersions() {
        ModelRegistered r = RegistryAdapters.toRegistered(event(EventTypes.MLFLOW_MODEL_VERSION_CREATED, Map.of(
                "name", "example_model", "version", "1", "source", "models:/123", "run_id", "abcd",
                "tags", Map.of("refinery.format", "keras"))));

        assertEquals("models:/123", r.uri());
        assertEquals("keras", r.format());
    }

    @Test
    void refusesUnknownTypesAndBadFields() {
        assertEquals("unknown event type 'com.example.other' (known: io.modelrefinery.model.registered, "
                + "Microsoft.MachineLearningServices.ModelRegistered, org.mlflow.model_version.created, SageMaker Model Package State Change)",
                assertThrows(MalformedEventException.class, () -> RegistryAdapters.toRegistered(
                        event("com.example.other", Map.of()))).getMessage());
        assertEquals("event data has no 'version'", assertThrows(MalformedEventException.class,
                () -> RegistryAdapters.toRegistered(event(EventTypes.MODEL_REGISTERED, Map.of("name", "m")))).getMessage());
        assertEquals("event field 'uri' is not an absolute URI: 'models/m.onnx'", assertThrows(
                MalformedEventException.class, () -> RegistryAdapters.toRegistered(event(EventTypes.MODEL_REGISTERED,
                        Map.of("name", "m", "version", "1", "uri", "models/m.onnx")))).getMessage());
        assertEquals("event field 'format' is invalid: format id must be lowercase letters, digits and dashes: 'ONNX!'",
                assertThrows(MalformedEventException.class, () -> RegistryAdapters.toRegistered(event(
                        EventTypes.MODEL_REGISTERED, Map.of("name", "m", "version", "1", "format", "ONNX!")))).getMessage());
        assertThrows(PipelineSyntaxException.class, () -> RegistryAdapters.toRegistered(event(
                EventTypes.MODEL_REGISTERED, Map.of("name", "m", "version", "1", "pipeline", "fp16("))));
        assertEquals("event field 'name' must be a string", assertThrows(MalformedEventException.class,
                () -> RegistryAdapters.toRegistered(event(EventTypes.MODEL_REGISTERED, Map.of("name", Map.of(),
                        "version", "1")))).getMessage());
    }

    @Test
    void readsBothDocumentedFormsOfAzureMachineLearningsEvent() {
        ModelRegistered grid = RegistryAdapters.toRegistered(CloudEventCodec.decodeAll(
                CloudEventCodecTest.EVENT_GRID_DELIVERY.getBytes(java.nio.charset.StandardCharsets.UTF_8), Map.of()).get(0).event());
        ModelRegistered cloud = RegistryAdapters.toRegistered(CloudEventCodec.decodeAll(
                CloudEventCodecTest.CLOUD_EVENTS_DELIVERY.getBytes(java.nio.charset.StandardCharsets.UTF_8), Map.of()).get(0).event());

        for (ModelRegistered r : java.util.List.of(grid, cloud)) {
            assertEquals("sklearn_regression_model", r.name());
            assertEquals("20", r.version());
            assertNull(r.uri());
            assertEquals(Map.of("area", "diabetes", "type", "regression"), r.tags()); // tags win over properties
            assertEquals("/subscriptions/{subscription-id}/resourceGroups/{resource-group-name}/providers/"
                    + "Microsoft.MachineLearningServices/workspaces/{workspace-name}", r.source());
        }
    }

    @Test
    void mapsSageMakerModelPackagesAndIgnoresRejectedOnes() {
        CloudEvent approved = CloudEventCodec.decode(CloudEventCodecTest.SAGEMAKER_EVENT
                .getBytes(java.nio.charset.StandardCharsets.UTF_8), Map.of());
        CloudEvent rejected = CloudEventCodec.decode(CloudEventCodecTest.SAGEMAKER_EVENT.replace("\"Approved\"", "\"Rejected\"")
                .getBytes(java.nio.charset.StandardCharsets.UTF_8), Map.of());

        ModelRegistered r = RegistryAdapters.toRegistered(approved);

        assertEquals("churn-models", r.name());
        assertEquals("3", r.version());
        assertEquals("s3://sagemaker-bucket/churn/output/model.tar.gz", r.uri());
        assertEquals("fp16", r.pipeline());
        assertEquals("aws.sagemaker", r.source());
        assertEquals(java.util.Optional.empty(), RegistryAdapters.ignoreReason(approved, r));
        assertEquals(java.util.Optional.of("rejected"), RegistryAdapters.ignoreReason(rejected,
                RegistryAdapters.toRegistered(rejected)));
    }

    @Test
    void aVersionTheRefineryRegisteredIsIgnoredWhateverRegistryItComesFrom() {
        CloudEvent webhook = MlflowWebhook.toCloudEvent("d-1", ("{\"entity\":\"model_version\",\"action\":\"created\","
                + "\"data\":{\"name\":\"seed\",\"version\":\"2\",\"source\":\"models:/m-1\",\"tags\":{\"refinery.job-id\":"
                + "\"job-0123456789abcdef\"}}}").getBytes(java.nio.charset.StandardCharsets.UTF_8));
        CloudEvent azure = event(EventTypes.AZURE_ML_MODEL_REGISTERED, Map.of("modelName", "m", "modelVersion", "2",
                "modelTags", Map.of("refinery.job-id", "job-0123456789abcdef")));

        assertEquals(java.util.Optional.of("refinery-result"), RegistryAdapters.ignoreReason(webhook,
                RegistryAdapters.toRegistered(webhook)));
        assertEquals(java.util.Optional.of("refinery-result"), RegistryAdapters.ignoreReason(azure,
                RegistryAdapters.toRegistered(azure)));
    }
}
