package io.modelrefinery.host.event;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Map;

/**
 * Reads events in the forms registries and users send them, and writes structured CloudEvents:
 * <ul>
 *   <li>structured mode: the record value is the CloudEvent as JSON ({@code specversion} inside);</li>
 *   <li>binary mode: attributes in {@code ce_*} headers, the value is the data;</li>
 *   <li>Azure Event Grid's own schema ({@code eventType}, {@code eventTime}, {@code topic}).</li>
 * </ul>
 */
public final class CloudEventCodec {
    /** Events larger than this are refused before parsing. */
    public static final int MAX_EVENT_BYTES = 1 << 20;

    private CloudEventCodec() {
    }

    /**
     * Decodes one record.
     *
     * @param headers record headers, values as UTF-8 text
     * @throws MalformedEventException naming what is wrong
     */
    public static CloudEvent decode(byte[] value, Map<String, String> headers) {
        if (value == null || value.length == 0) {
            throw new MalformedEventException("event has no value");
        }
        if (value.length > MAX_EVENT_BYTES) {
            throw new MalformedEventException("event is " + value.length + " bytes, more than the " + MAX_EVENT_BYTES
                    + "-byte limit");
        }
        if (headers.containsKey("ce_specversion")) {
            requireSpecVersion(headers.get("ce_specversion"));
            return new CloudEvent(headers.get("ce_id"), headers.get("ce_source"), headers.get("ce_type"),
                    headers.get("ce_time"), headers.get("ce_subject"), EventJson.parse(value, "event data"));
        }
        JsonNode json = EventJson.parse(value, "event");
        if (!json.isObject()) {
            throw new MalformedEventException("event is JSON but not an object");
        }
        if (json.has("specversion")) {
            requireSpecVersion(json.get("specversion").asText());
            String contentType = text(json, "datacontenttype");
            if (contentType != null && !contentType.contains("json")) {
                throw new MalformedEventException("event data is '" + contentType + "'; only JSON data is read");
            }
            return new CloudEvent(text(json, "id"), text(json, "source"), text(json, "type"), text(json, "time"),
                    text(json, "subject"), data(json));
        }
        if (json.has("eventType")) {
            return new CloudEvent(text(json, "id"), text(json, "topic"), text(json, "eventType"),
                    text(json, "eventTime"), text(json, "subject"), data(json));
        }
        throw new MalformedEventException("event is neither a CloudEvent (no 'specversion') nor an Event Grid event "
                + "(no 'eventType')");
    }

    /** The event in structured mode, as compact JSON. */
    public static byte[] encode(CloudEvent event) {
        ObjectNode json = EventJson.MAPPER.createObjectNode();
        json.put("specversion", CloudEvent.SPEC_VERSION);
        json.put("id", event.id());
        json.put("source", event.source());
        json.put("type", event.type());
        if (event.time() != null) {
            json.put("time", event.time());
        }
        if (event.subject() != null) {
            json.put("subject", event.subject());
        }
        json.put("datacontenttype", "application/json");
        json.set("data", event.data());
        return EventJson.bytes(json);
    }

    private static void requireSpecVersion(String version) {
        if (!CloudEvent.SPEC_VERSION.equals(version)) {
            throw new MalformedEventException("event has CloudEvents specversion '" + version + "'; only 1.0 is read");
        }
    }

    private static JsonNode data(JsonNode json) {
        JsonNode data = json.get("data");
        if (data == null || data.isNull()) {
            throw new MalformedEventException("event has no data");
        }
        return data;
    }

    private static String text(JsonNode json, String field) {
        JsonNode node = json.get(field);
        return node == null || node.isNull() ? null : node.asText();
    }
}
