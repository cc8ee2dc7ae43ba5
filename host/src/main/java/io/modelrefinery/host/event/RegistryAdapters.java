package io.modelrefinery.host.event;

import com.fasterxml.jackson.databind.JsonNode;
import io.modelrefinery.api.event.EventTypes;
import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.host.pipeline.DataSources;
import io.modelrefinery.host.pipeline.PipelineSpec;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Maps the registry events users already emit to {@link ModelRegistered}: the refinery's own
 * {@code model.registered}, Azure Machine Learning's {@code ModelRegistered} (Event Grid schema with
 * camelCase data, CloudEvents schema with PascalCase data), MLflow's {@code model_version.created} and
 * Amazon SageMaker's {@code SageMaker Model Package State Change}. Registries that cannot say how to
 * optimize a model may say it in tags: {@value #PIPELINE_TAG}, {@value #FORMAT_TAG},
 * {@value #CALIBRATION_TAG}, {@value #EVAL_TAG}, {@value #TRAIN_TAG}, {@value #URI_TAG}, and whether to
 * register the result back: {@value #REGISTER_TAG}, {@value #REGISTER_AS_TAG}, {@value #REGISTER_ALIAS_TAG}.
 *
 * <p>A model version the refinery registered itself carries {@value #JOB_ID_TAG}: the registry's event
 * about it is {@linkplain #ignoreReason ignored}, so that an optimized model is not optimized again.
 */
public final class RegistryAdapters {
    public static final String PIPELINE_TAG = "refinery.pipeline";
    public static final String FORMAT_TAG = "refinery.format";
    public static final String CALIBRATION_TAG = "refinery.calibrationUri";
    public static final String EVAL_TAG = "refinery.evalUri";
    public static final String TRAIN_TAG = "refinery.trainUri";
    public static final String URI_TAG = "refinery.uri";
    /** {@code true} or {@code false}: register the optimized model back, whatever {@code serve --mlflow-register} says. */
    public static final String REGISTER_TAG = "refinery.register";
    /** The registered model to add the optimized version to (default: the source's name). */
    public static final String REGISTER_AS_TAG = "refinery.register-as";
    /** An alias to point at the optimized version. */
    public static final String REGISTER_ALIAS_TAG = "refinery.register-alias";
    /** Set on every version the refinery registers: the job that made it. */
    public static final String JOB_ID_TAG = "refinery.job-id";
    /** Set on every version the refinery registers: the version it was made from. */
    public static final String SOURCE_VERSION_TAG = "refinery.source-version";

    /** The event types this host turns into jobs. */
    public static final List<String> SUPPORTED_TYPES = List.of(EventTypes.MODEL_REGISTERED,
            EventTypes.AZURE_ML_MODEL_REGISTERED, EventTypes.MLFLOW_MODEL_VERSION_CREATED,
            EventTypes.SAGEMAKER_MODEL_PACKAGE_STATE_CHANGE);

    /** Why an event is ignored: the version is the refinery's own result. */
    public static final String IGNORED_OWN_RESULT = "refinery-result";
    /** Why an event is ignored: SageMaker says the model package was rejected. */
    public static final String IGNORED_REJECTED = "rejected";
    /** Every reason {@link #ignoreReason} gives. */
    public static final List<String> IGNORE_REASONS = List.of(IGNORED_OWN_RESULT, IGNORED_REJECTED);

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
                // Event Grid schema: modelName, modelVersion "20"; CloudEvents schema: ModelName, ModelVersion 20.
                Map<String, String> tags = strings(either(data, "modelProperties", "ModelProperties"));
                tags.putAll(strings(either(data, "modelTags", "ModelTags")));
                boolean pascal = data.has("ModelName");
                registered = fromTags(required(data, pascal ? "ModelName" : "modelName"),
                        required(data, pascal ? "ModelVersion" : "modelVersion"), null, event.source(), tags);
                break;
            }
            case EventTypes.SAGEMAKER_MODEL_PACKAGE_STATE_CHANGE:
                registered = sageMaker(data, event.source());
                break;
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

    /**
     * Why the event should start no job, or empty when it should: the version carries
     * {@value #JOB_ID_TAG} (the refinery registered it: the loop guard), or SageMaker rejected the package.
     */
    public static Optional<String> ignoreReason(CloudEvent event, ModelRegistered registered) {
        if (registered.tags().containsKey(JOB_ID_TAG)) {
            return Optional.of(IGNORED_OWN_RESULT);
        }
        if (event.type().equals(EventTypes.SAGEMAKER_MODEL_PACKAGE_STATE_CHANGE)
                && "Rejected".equalsIgnoreCase(event.data().path("ModelApprovalStatus").asText(""))) {
            return Optional.of(IGNORED_REJECTED);
        }
        return Optional.empty();
    }

    /**
     * A SageMaker model package: name and version of its group ({@code ModelPackageGroupName},
     * {@code ModelPackageVersion}; an unversioned package by its {@code ModelPackageName}, version 1), the
     * model data of its first inference container as the URI, and {@code CustomerMetadataProperties}
     * (plus {@code Tags}) as tags.
     */
    private static ModelRegistered sageMaker(JsonNode detail, String source) {
        String group = text(detail, "ModelPackageGroupName");
        String name = group != null ? group : required(detail, "ModelPackageName");
        String version = group != null ? required(detail, "ModelPackageVersion")
                : Objects.requireNonNullElse(text(detail, "ModelPackageVersion"), "1");
        JsonNode containers = detail.path("InferenceSpecification").path("Containers");
        String uri = containers.isArray() && containers.size() > 0 ? text(containers.get(0), "ModelDataUrl") : null;
        Map<String, String> tags = sageMakerTags(detail.get("Tags"));
        tags.putAll(strings(detail.get("CustomerMetadataProperties")));
        return fromTags(name, version, uri, source, tags);
    }

    /** SageMaker's {@code Tags}: a list of {@code {"Key", "Value"}} as its API returns them, or an object. */
    private static Map<String, String> sageMakerTags(JsonNode tags) {
        if (tags == null || !tags.isArray()) {
            return strings(tags);
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (JsonNode tag : tags) {
            String key = tag.path("Key").asText("");
            if (!key.isEmpty()) {
                out.put(key, tag.path("Value").asText(""));
            }
        }
        return out;
    }

    private static JsonNode either(JsonNode data, String a, String b) {
        return data.has(a) ? data.get(a) : data.get(b);
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
        for (DataSources.Source source : DataSources.all()) {
            requireUri(source.uri().apply(registered), source.eventField());
        }
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
