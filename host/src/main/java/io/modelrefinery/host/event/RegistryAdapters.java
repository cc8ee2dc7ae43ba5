package io.modelrefinery.host.event;

import com.fasterxml.jackson.databind.JsonNode;
import io.modelrefinery.api.event.EventTypes;
import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.host.pipeline.PipelineSpec;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Maps the registry events users already emit to {@link ModelRegistered}: the refinery's own
 * {@code model.registered}, Azure Machine Learning's {@code ModelRegistered} and MLflow's
 * {@code model_version.created}. Registries that cannot say how to optimize a model may say it in
 * tags: {@value #PIPELINE_TAG}, {@value #FORMAT_TAG}, {@value #CALIBRATION_TAG}, {@value #EVAL_TAG},
 * {@value #TRAIN_TAG}, {@value #URI_TAG}.
 */
public final class RegistryAdapters {
    public static final String PIPELINE_TAG = "refinery.pipeline";
    public static final String FORMAT_TAG = "refinery.format";
    public static final String CALIBRATION_TAG = "refinery.calibrationUri";
    public static final String EVAL_TAG = "refinery.evalUri";
    public static final String TRAIN_TAG = "refinery.trainUri";
    public static final String URI_TAG = "refinery.uri";

    /** The event types this host turns into jobs. */
    public static final List<String> SUPPORTED_TYPES = List.of(EventTypes.MODEL_REGISTERED,
            EventTypes.AZURE_ML_MODEL_REGISTERED, EventTypes.MLFLOW_MODEL_VERSION_CREATED);

    private RegistryAdapters() {
    }

    /**
     * The registered model an event announces.
     *
     * @throws MalformedEventException for an unknown type, a missing name or version, or a bad field
     */
    public static ModelRegistered toRegistered(CloudEvent event) {
        JsonNode data = event.data();
        if (!data.isObject()) {
            throw new MalformedEventException("event data is not a JSON object");
        }
        ModelRegistered registered;
        switch (event.type()) {
            case EventTypes.MODEL_REGISTERED:
                registered = new ModelRegistered(required(data, "name"), required(data, "version"), text(data, "uri"),
                        text(data, "format"), text(data, "pipeline"), text(data, "calibrationUri"),
                        text(data, "evalUri"), text(data, "trainUri"), event.source(), strings(data.get("tags")));
                break;
            case EventTypes.AZURE_ML_MODEL_REGISTERED: {
                Map<String, String> tags = strings(data.get("modelProperties"));
                tags.putAll(strings(data.get("modelTags")));
                registered = fromTags(required(data, "modelName"), required(data, "modelVersion"), null,
                        event.source(), tags);
                break;
            }
            case EventTypes.MLFLOW_MODEL_VERSION_CREATED:
                registered = fromTags(required(data, "name"), required(data, "version"), text(data, "source"),
                        event.source(), strings(data.get("tags")));
                break;
            default:
                throw new MalformedEventException("unknown event type '" + event.type() + "' (known: "
                        + String.join(", ", SUPPORTED_TYPES) + ")");
        }
        return validate(registered);
    }

    /** A registry event whose options live in tags. */
    private static ModelRegistered fromTags(String name, String version, String uri, String source,
                                            Map<String, String> tags) {
        return new ModelRegistered(name, version, tags.getOrDefault(URI_TAG, uri), tags.get(FORMAT_TAG),
                tags.get(PIPELINE_TAG), tags.get(CALIBRATION_TAG), tags.get(EVAL_TAG), tags.get(TRAIN_TAG), source, tags);
    }

    /** Checks the fields a job needs before any work: URIs parse, the format and pipeline are valid. */
    static ModelRegistered validate(ModelRegistered registered) {
        requireUri(registered.uri(), "uri");
        requireUri(registered.calibrationUri(), "calibrationUri");
        requireUri(registered.evalUri(), "evalUri");
        requireUri(registered.trainUri(), "trainUri");
        if (registered.format() != null) {
            try {
                new ModelFormat(registered.format());
            } catch (IllegalArgumentException e) {
                throw new MalformedEventException("event field 'format' is invalid: " + e.getMessage());
            }
        }
        if (registered.pipeline() != null) {
            PipelineSpec.parse(registered.pipeline());
        }
        return registered;
    }

    private static void requireUri(String value, String field) {
        if (value == null) {
            return;
        }
        try {
            URI uri = new URI(value);
            if (uri.getScheme() == null) {
                throw new MalformedEventException("event field '" + field + "' is not an absolute URI: '" + value + "'");
            }
        } catch (URISyntaxException e) {
            throw new MalformedEventException("event field '" + field + "' is not a URI: '" + value + "'");
        }
    }

    private static String required(JsonNode data, String field) {
        String value = text(data, field);
        if (value == null || value.isBlank()) {
            throw new MalformedEventException("event data has no '" + field + "'");
        }
        return value;
    }

    private static String text(JsonNode data, String field) {
        JsonNode node = data.get(field);
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isValueNode()) {
            throw new MalformedEventException("event field '" + field + "' must be a string");
        }
        return node.asText();
    }

    private static Map<String, String> strings(JsonNode object) {
        Map<String, String> out = new LinkedHashMap<>();
        if (object == null || object.isNull()) {
            return out;
        }
        if (!object.isObject()) {
            throw new MalformedEventException("event tags must be a JSON object");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = object.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            out.put(e.getKey(), e.getValue().isValueNode() ? e.getValue().asText() : e.getValue().toString());
        }
        return out;
    }
}
