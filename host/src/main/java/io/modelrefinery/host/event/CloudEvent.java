package io.modelrefinery.host.event;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.Objects;

/**
 * A CloudEvents 1.0 event with JSON data, as the refinery reads and writes it.
 *
 * @param id unique per source; redelivered events keep theirs
 * @param source who emitted it (a URI reference)
 * @param type what happened, for example {@code io.modelrefinery.model.registered}
 * @param time when, RFC 3339, or {@code null}
 * @param subject what it is about (for the refinery: {@code name:version}), or {@code null}
 * @param data the JSON data
 */
public record CloudEvent(String id, String source, String type, String time, String subject, JsonNode data) {
    public static final String SPEC_VERSION = "1.0";
    /** Content type of a structured-mode event. */
    public static final String STRUCTURED_CONTENT_TYPE = "application/cloudevents+json";

    public CloudEvent {
        requireAttribute(id, "id");
        requireAttribute(source, "source");
        requireAttribute(type, "type");
        Objects.requireNonNull(data, "data");
    }

    private static void requireAttribute(String value, String name) {
        if (value == null || value.isBlank()) {
            throw new MalformedEventException("event has no '" + name + "' attribute");
        }
    }
}
