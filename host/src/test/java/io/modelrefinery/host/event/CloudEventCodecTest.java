package io.modelrefinery.host.event;

import io.modelrefinery.api.event.EventTypes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.charset.StandardCharsets;
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
}
