package io.modelrefinery.host.event;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Reads events in the forms registries and users send them, and writes structured CloudEvents:
 * <ul>
 *   <li>structured mode: the record value is the CloudEvent as JSON ({@code specversion} inside);</li>
 *   <li>binary mode: attributes in {@code ce_*} headers, the value is the data;</li>
 *   <li>Azure Event Grid's own schema ({@code eventType}, {@code eventTime}, {@code topic});</li>
 *   <li>Amazon EventBridge's envelope ({@code detail-type}, {@code source}, {@code detail});</li>
 *   <li>a JSON array of any of these, as Event Grid delivers them ({@link #decodeAll}).</li>
 * </ul>
 */
public final class CloudEventCodec {
    /** Events larger than this are refused before parsing. */
    public static final int MAX_EVENT_BYTES = 1 << 20;

    private CloudEventCodec() {
    }

    /**
     * One event of a record, or why it cannot be read.
     *
     * @param index its place in the record's JSON array, or -1 when the record is a single event
     * @param json the event's own JSON (the record value for a single event): what a dead letter carries
     * @param event the event, or {@code null} when {@code problem} says why there is none
     * @param problem why the event cannot be read, or {@code null}
     */
    public record Decoded(int index, byte[] json, CloudEvent event, MalformedEventException problem) {
    }

    /**
     * Decodes one record, which may hold a JSON array of events (an Event Grid delivery): each element
     * is decoded on its own, so one bad element does not spoil the others.
     *
     * @param headers record headers, values as UTF-8 text
     * @return one entry per event, in order
     * @throws MalformedEventException when the record as a whole is unreadable (not JSON, too large,
     *     an empty array)
     */
    public static List<Decoded> decodeAll(byte[] value, Map<String, String> headers) {
        checkSize(value);
        if (headers.containsKey("ce_specversion")) {
            return List.of(new Decoded(-1, value, decode(value, headers), null));
        }
        JsonNode json = EventJson.parse(value, "event");
        if (!json.isArray()) {
            return List.of(single(-1, value, json));
        }
        if (json.isEmpty()) {
            throw new MalformedEventException("event is an empty JSON array");
        }
        List<Decoded> out = new ArrayList<>(json.size());
        for (int i = 0; i < json.size(); i++) {
            JsonNode element = json.get(i);
            out.add(single(i, EventJson.bytes(element), element));
        }
        return out;
    }

    private static Decoded single(int index, byte[] bytes, JsonNode json) {
        try {
            return new Decoded(index, bytes, fromJson(json), null);
        } catch (MalformedEventException e) {
            return new Decoded(index, bytes, null, index < 0 ? e
                    : new MalformedEventException("event " + index + " of the array: " + e.getMessage()));
        }
    }

    /**
     * Decodes one record holding one event.
     *
     * @param headers record headers, values as UTF-8 text
     * @throws MalformedEventException naming what is wrong
     */
    public static CloudEvent decode(byte[] value, Map<String, String> headers) {
        checkSize(value);
        if (headers.containsKey("ce_specversion")) {
            requireSpecVersion(headers.get("ce_specversion"));
            return new CloudEvent(headers.get("ce_id"), headers.get("ce_source"), headers.get("ce_type"),
                    headers.get("ce_time"), headers.get("ce_subject"), EventJson.parse(value, "event data"));
        }
        return fromJson(EventJson.parse(value, "event"));
    }

    private static void checkSize(byte[] value) {
        if (value == null || value.length == 0) {
            throw new MalformedEventException("event has no value");
        }
        if (value.length > MAX_EVENT_BYTES) {
            throw new MalformedEventException("event is " + value.length + " bytes, more than the " + MAX_EVENT_BYTES
                    + "-byte limit");
        }
    }

    private static CloudEvent fromJson(JsonNode json) {
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
        if (json.has("detail-type")) {
            // EventBridge: the resource the event is about (a model package's ARN) is its subject.
            JsonNode resources = json.path("resources");
            String subject = resources.isArray() && resources.size() > 0 ? resources.get(0).asText() : null;
            JsonNode detail = json.get("detail");
            if (detail == null || detail.isNull()) {
                throw new MalformedEventException("event has no detail");
            }
            return new CloudEvent(text(json, "id"), text(json, "source"), text(json, "detail-type"),
                    text(json, "time"), subject, detail);
        }
        throw new MalformedEventException("event is neither a CloudEvent (no 'specversion'), an Event Grid event "
                + "(no 'eventType') nor an EventBridge event (no 'detail-type')");
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
