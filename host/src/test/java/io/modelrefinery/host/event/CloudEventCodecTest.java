package io.modelrefinery.host.event;

import io.modelrefinery.api.event.EventTypes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class CloudEventCodecTest {
    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void readsStructuredMode() {
        CloudEvent event = CloudEventCodec.decode(utf8("{\"specversion\":\"1.0\",\"id\":\"e1\",\"source\":\"/registry\","
                + "\"type\":\"io.modelrefinery.model.registered\",\"subject\":\"m:1\",\"datacontenttype\":\"application/json\","
                + "\"data\":{\"name\":\"m\",\"version\":\"1\"}}"), Map.of());

        assertEquals("e1", event.id());
        assertEquals("/registry", event.source());
        assertEquals(EventTypes.MODEL_REGISTERED, event.type());
        assertEquals("m:1", event.subject());
        assertEquals("m", event.data().get("name").asText());
    }

    @Test
    void readsBinaryModeFromHeaders() {
        CloudEvent event = CloudEventCodec.decode(utf8("{\"name\":\"m\",\"version\":\"2\"}"), Map.of(
                "ce_specversion", "1.0", "ce_id", "e2", "ce_source", "/registry", "ce_type", EventTypes.MODEL_REGISTERED,
                "content-type", "application/json"));

        assertEquals("e2", event.id());
        assertEquals("2", event.data().get("version").asText());
    }

    @Test
    void readsAzureEventGridSchema() {
        CloudEvent event = CloudEventCodec.decode(utf8("{\"id\":\"g1\",\"topic\":\"/subscriptions/s/workspaces/w\","
                + "\"subject\":\"models/m:3\",\"eventType\":\"Microsoft.MachineLearningServices.ModelRegistered\","
                + "\"eventTime\":\"2026-11-23T10:00:00Z\",\"data\":{\"modelName\":\"m\",\"modelVersion\":\"3\"},"
                + "\"dataVersion\":\"2\",\"metadataVersion\":\"1\"}"), Map.of());

        assertEquals(EventTypes.AZURE_ML_MODEL_REGISTERED, event.type());
        assertEquals("/subscriptions/s/workspaces/w", event.source());
        assertEquals("3", event.data().get("modelVersion").asText());
    }

    @Test
    void writesWhatItReads() {
        CloudEvent event = new CloudEvent("x/optimized", OutcomeEvents.SOURCE, EventTypes.MODEL_OPTIMIZED,
                "2026-11-23T10:00:00Z", "m:1", EventJson.tree(Map.of("jobId", "x")));

        assertEquals(event, CloudEventCodec.decode(CloudEventCodec.encode(event), Map.of()));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "not json|event is not valid JSON: ",
            "[1,2]|event is JSON but not an object",
            "{\"id\":\"1\"}|event is neither a CloudEvent (no 'specversion'), an Event Grid event (no 'eventType') nor an EventBridge event (no 'detail-type')",
            "{\"specversion\":\"0.3\",\"id\":\"1\"}|event has CloudEvents specversion '0.3'; only 1.0 is read",
            "{\"specversion\":\"1.0\",\"source\":\"s\",\"type\":\"t\",\"data\":{}}|event has no 'id' attribute",
            "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\"}|event has no data",
            "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\",\"datacontenttype\":\"text/xml\",\"data\":\"<a/>\"}|event data is 'text/xml'; only JSON data is read",
    })
    void refusesWhatIsNotAnEvent(String value, String message) {
        MalformedEventException e = assertThrows(MalformedEventException.class,
                () -> CloudEventCodec.decode(utf8(value), Map.of()));
        assertEquals(true, e.getMessage().startsWith(message), e.getMessage());
    }

    @Test
    void refusesEmptyAndOversizedValues() {
        assertEquals("event has no value", assertThrows(MalformedEventException.class,
                () -> CloudEventCodec.decode(new byte[0], Map.of())).getMessage());
        byte[] big = new byte[CloudEventCodec.MAX_EVENT_BYTES + 1];
        assertEquals("event is 1048577 bytes, more than the 1048576-byte limit", assertThrows(
                MalformedEventException.class, () -> CloudEventCodec.decode(big, Map.of())).getMessage());
    }

    /** Azure Machine Learning's ModelRegistered as Event Grid delivers it: a JSON array (from Azure's event schema docs). */
    static final String EVENT_GRID_DELIVERY = "[{\"topic\":\"/subscriptions/{subscription-id}/resourceGroups/{resource-group-name}"
            + "/providers/Microsoft.MachineLearningServices/workspaces/{workspace-name}\",\"subject\":\"models/sklearn_regression_model:20\","
            + "\"eventType\":\"Microsoft.MachineLearningServices.ModelRegistered\",\"eventTime\":\"2017-06-26T18:41:00.9584103Z\","
            + "\"id\":\"831e1650-001e-001b-66ab-eeb76e069631\",\"data\":{\"modelName\":\"sklearn_regression_model\","
            + "\"modelVersion\":\"20\",\"modelTags\":{\"area\":\"diabetes\",\"type\":\"regression\"},"
            + "\"modelProperties\":{\"type\":\"test\"}},\"dataVersion\":\"2\",\"metadataVersion\":\"1\"}]";

    /** The same event in Event Grid's CloudEvents schema (from Azure's event schema docs): PascalCase data, version a number. */
    static final String CLOUD_EVENTS_DELIVERY = "[{\"source\":\"/subscriptions/{subscription-id}/resourceGroups/{resource-group-name}"
            + "/providers/Microsoft.MachineLearningServices/workspaces/{workspace-name}\",\"subject\":\"models/sklearn_regression_model:20\","
            + "\"type\":\"Microsoft.MachineLearningServices.ModelRegistered\",\"time\":\"2017-06-26T18:41:00.9584103Z\","
            + "\"id\":\"831e1650-001e-001b-66ab-eeb76e069631\",\"data\":{\"ModelName\":\"sklearn_regression_model\","
            + "\"ModelVersion\":20,\"ModelTags\":{\"area\":\"diabetes\",\"type\":\"regression\"},"
            + "\"ModelProperties\":{\"type\":\"test\"}},\"specversion\":\"1.0\"}]";

    @Test
    void readsEventGridArraysElementByElementAndKeepsEachElementsOwnJson() {
        List<CloudEventCodec.Decoded> grid = CloudEventCodec.decodeAll(utf8(EVENT_GRID_DELIVERY), Map.of());
        List<CloudEventCodec.Decoded> cloud = CloudEventCodec.decodeAll(utf8(CLOUD_EVENTS_DELIVERY), Map.of());
        List<CloudEventCodec.Decoded> mixed = CloudEventCodec.decodeAll(utf8("[" + EVENT_GRID_DELIVERY.substring(1,
                EVENT_GRID_DELIVERY.length() - 1) + ",{\"id\":\"2\"},7]"), Map.of());

        assertEquals(1, grid.size());
        assertEquals(0, grid.get(0).index());
        assertEquals(EventTypes.AZURE_ML_MODEL_REGISTERED, grid.get(0).event().type());
        assertEquals("20", cloud.get(0).event().data().get("ModelVersion").asText());
        assertEquals(3, mixed.size());
        assertEquals(EventTypes.AZURE_ML_MODEL_REGISTERED, mixed.get(0).event().type());
        assertEquals("event 1 of the array: event is neither a CloudEvent (no 'specversion'), an Event Grid event (no "
                + "'eventType') nor an EventBridge event (no 'detail-type')", mixed.get(1).problem().getMessage());
        assertEquals("{\"id\":\"2\"}", new String(mixed.get(1).json(), StandardCharsets.UTF_8));
        assertEquals("event 2 of the array: event is JSON but not an object", mixed.get(2).problem().getMessage());
        assertEquals(-1, CloudEventCodec.decodeAll(utf8("{\"id\":\"1\"}"), Map.of()).get(0).index());
        assertEquals("event is an empty JSON array", assertThrows(MalformedEventException.class,
                () -> CloudEventCodec.decodeAll(utf8("[]"), Map.of())).getMessage());
    }

    /** A SageMaker model package event as EventBridge sends it (fields from SageMaker's ModelPackage and EventBridge's envelope). */
    static final String SAGEMAKER_EVENT = "{\"version\":\"0\",\"id\":\"844e2571-85d4-695f-b930-0153b71dcb42\","
            + "\"detail-type\":\"SageMaker Model Package State Change\",\"source\":\"aws.sagemaker\",\"account\":\"123456789012\","
            + "\"time\":\"2026-02-24T17:00:14Z\",\"region\":\"us-east-2\",\"resources\":[\"arn:aws:sagemaker:us-east-2:"
            + "123456789012:model-package/churn-models/3\"],\"detail\":{\"ModelPackageGroupName\":\"churn-models\","
            + "\"ModelPackageVersion\":3,\"ModelPackageArn\":\"arn:aws:sagemaker:us-east-2:123456789012:model-package/churn-models/3\","
            + "\"CreationTime\":1771952411427,\"InferenceSpecification\":{\"Containers\":[{\"Image\":\"257758044811.dkr.ecr."
            + "us-east-2.amazonaws.com/sagemaker-xgboost:1.0-1-cpu-py3\",\"ModelDataUrl\":\"s3://sagemaker-bucket/churn/output/"
            + "model.tar.gz\"}],\"SupportedContentTypes\":[\"text/csv\"],\"SupportedResponseMIMETypes\":[\"text/csv\"]},"
            + "\"ModelPackageStatus\":\"Completed\",\"CertifyForMarketplace\":false,\"ModelApprovalStatus\":\"Approved\","
            + "\"CustomerMetadataProperties\":{\"refinery.pipeline\":\"fp16\"}}}";

    @Test
    void readsEventBridgeEventsWithTheDetailAsData() {
        CloudEvent event = CloudEventCodec.decode(utf8(SAGEMAKER_EVENT), Map.of());

        assertEquals(EventTypes.SAGEMAKER_MODEL_PACKAGE_STATE_CHANGE, event.type());
        assertEquals("aws.sagemaker", event.source());
        assertEquals("844e2571-85d4-695f-b930-0153b71dcb42", event.id());
        assertEquals("arn:aws:sagemaker:us-east-2:123456789012:model-package/churn-models/3", event.subject());
        assertEquals("churn-models", event.data().get("ModelPackageGroupName").asText());
    }
}
