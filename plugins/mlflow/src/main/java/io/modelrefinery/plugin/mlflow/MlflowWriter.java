package io.modelrefinery.plugin.mlflow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.api.event.RegisteredVersion;
import io.modelrefinery.api.event.RegistrationRequest;
import io.modelrefinery.api.event.RegistryContext;
import io.modelrefinery.api.event.RegistryWriter;
import org.osgi.service.component.annotations.Component;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;

/**
 * Registers an optimized model in the MLflow registry its source came from, as MLflow 3's
 * {@code mlflow.register_model} does: a logged model in the source's experiment (tags {@code refinery.*},
 * its artifacts {@code model.onnx}, an {@code MLmodel} with the {@code onnx} flavor and the job's report
 * {@code refinery-report.json}, uploaded through the artifact proxy), then a new version of the
 * registered model with source {@code models:/<model id>} and the request's tags, and the alias when one
 * is asked for.
 *
 * <p>Idempotent by job id: a version tagged {@code refinery.job-id} with the job is returned as it is,
 * and a logged model of the job left by an earlier attempt is reused instead of logging another.
 */
@Component(service = RegistryWriter.class)
public final class MlflowWriter implements RegistryWriter {
    static final String JOB_ID_TAG = "refinery.job-id";
    static final String MODEL_FILE = "model.onnx";
    static final String REPORT_FILE = "refinery-report.json";

    @Override
    public Optional<RegisteredVersion> register(RegistrationRequest request, RegistryContext context) {
        ModelRegistered source = request.source();
        // What the resolver reads is MLflow's, and so is an MLflow webhook's version whatever its source URI.
        if (!MlflowResolver.claims(source) && !"mlflow".equals(source.source())) {
            return Optional.empty();
        }
        Optional<TrackingServer> server = TrackingServer.from(context);
        if (server.isEmpty()) {
            return Optional.empty();
        }
        MlflowClient client = new MlflowClient(server.get(), context);
        String name = request.targetName();
        Optional<String> existing = findVersion(client, name, request.jobId());
        String version;
        if (existing.isPresent()) {
            version = existing.get();
        } else {
            Origin origin = origin(client, source, context);
            JsonNode model = loggedModel(client, request, origin, context.workDirectory());
            version = createVersion(client, request, model, origin);
        }
        if (request.alias() != null) {
            ObjectNode alias = MlflowClient.JSON.createObjectNode();
            alias.put("name", name).put("alias", request.alias()).put("version", version);
            client.send("POST", "registered-models/alias", alias);
        }
        return Optional.of(new RegisteredVersion("mlflow", name, version, "models:/" + name + "/" + version));
    }

    /** The version of {@code name} registered for {@code jobId} before, if any. */
    static Optional<String> findVersion(MlflowClient client, String name, String jobId) {
        try {
            JsonNode found = client.get("model-versions/search", MlflowClient.params("filter",
                    "name='" + quote(name) + "' AND tags.`" + JOB_ID_TAG + "`='" + quote(jobId) + "'", "max_results", 10));
            for (JsonNode v : found.path("model_versions")) {
                return Optional.of(v.path("version").asText());
            }
            return Optional.empty();
        } catch (MlflowError e) {
            if (e.is("RESOURCE_DOES_NOT_EXIST")) {
                return Optional.empty(); // no registered model of that name yet
            }
            throw e;
        }
    }

    /** Where the source came from: its experiment, and the run that made it. */
    record Origin(String experimentId, String runId) {
    }

    private static Origin origin(MlflowClient client, ModelRegistered source, RegistryContext context) {
        String fallback = context.setting("MLFLOW_EXPERIMENT_ID").orElse("0");
        String modelId = null;
        String runId = null;
        ModelSource parsed = MlflowResolver.hasMlflowUri(source) ? ModelSource.parse(source.uri())
                : new ModelSource.Version(source.name(), source.version());
        if (parsed instanceof ModelSource.LoggedModel m) {
            modelId = m.modelId();
        } else if (parsed instanceof ModelSource.Run r) {
            runId = r.runId();
        } else {
            try {
                JsonNode mv = client.get("model-versions/get", MlflowClient.params("name", source.name(), "version",
                        source.version())).path("model_version");
                modelId = mv.path("model_id").asText(null);
                runId = mv.path("run_id").asText(null);
            } catch (MlflowError e) {
                return new Origin(fallback, null); // registered from elsewhere: the configured experiment
            }
        }
        if (modelId != null && !modelId.isEmpty()) {
            JsonNode info = client.get("logged-models/" + MlflowClient.encode(modelId), Map.of()).path("model").path("info");
            String run = info.path("source_run_id").asText(null);
            return new Origin(info.path("experiment_id").asText(fallback), run == null || run.isEmpty() ? runId : run);
        }
        if (runId != null && !runId.isEmpty()) {
            JsonNode info = client.get("runs/get", MlflowClient.params("run_id", runId)).path("run").path("info");
            return new Origin(info.path("experiment_id").asText(fallback), runId);
        }
        return new Origin(fallback, null);
    }

    /** The job's logged model, ready: an earlier attempt's when there is one, else a new one, uploaded and finalized. */
    private static JsonNode loggedModel(MlflowClient client, RegistrationRequest request, Origin origin, Path work) {
        JsonNode model = null;
        ObjectNode search = MlflowClient.JSON.createObjectNode();
        search.putArray("experiment_ids").add(origin.experimentId());
        search.put("filter", "tags.`" + JOB_ID_TAG + "` = '" + quote(request.jobId()) + "'");
        for (JsonNode found : client.send("POST", "logged-models/search", search).path("models")) {
            model = found;
            break;
        }
        if (model == null) {
            ObjectNode create = MlflowClient.JSON.createObjectNode();
            create.put("experiment_id", origin.experimentId());
            create.put("name", request.targetName() + "-optimized");
            create.put("model_type", "onnx");
            if (origin.runId() != null) {
                create.put("source_run_id", origin.runId());
            }
            tags(create.putArray("tags"), request.tags());
            model = client.send("POST", "logged-models", create).path("model");
        }
        JsonNode info = model.path("info");
        String modelId = info.path("model_id").asText();
        if (info.path("status").asText("").equals("LOGGED_MODEL_READY")) {
            return model;
        }
        ArtifactLocation artifacts = ArtifactLocation.of(info.path("artifact_uri").asText(), client.server());
        client.upload(artifacts.file(MODEL_FILE), request.modelFile());
        client.upload(artifacts.file("MLmodel"), write(work, "MLmodel", mlmodel(modelId, request)));
        client.upload(artifacts.file(REPORT_FILE), write(work, REPORT_FILE, request.reportJson()));
        ObjectNode finalize = MlflowClient.JSON.createObjectNode();
        finalize.put("model_id", modelId).put("status", "LOGGED_MODEL_READY");
        return client.send("PATCH", "logged-models/" + MlflowClient.encode(modelId), finalize).path("model");
    }

    private static String createVersion(MlflowClient client, RegistrationRequest request, JsonNode model, Origin origin) {
        ObjectNode registered = MlflowClient.JSON.createObjectNode();
        registered.put("name", request.targetName());
        try {
            client.send("POST", "registered-models/create", registered);
        } catch (MlflowError e) {
            if (!e.is("RESOURCE_ALREADY_EXISTS")) {
                throw e;
            }
        }
        String modelId = model.path("info").path("model_id").asText();
        ObjectNode create = MlflowClient.JSON.createObjectNode();
        create.put("name", request.targetName());
        create.put("source", "models:/" + modelId);
        create.put("model_id", modelId);
        if (origin.runId() != null) {
            create.put("run_id", origin.runId());
        }
        tags(create.putArray("tags"), request.tags());
        create.put("description", "Optimized by Model Refinery from " + request.source().name() + " version "
                + request.source().version() + " with " + request.report().pipeline() + " (" + request.jobId() + ")");
        JsonNode version = client.send("POST", "model-versions/create", create).path("model_version");
        String number = version.path("version").asText("");
        if (number.isEmpty()) {
            throw new InvalidInputException("MLflow created a model version of " + request.targetName()
                    + " without a version number");
        }
        return number;
    }

    /** The MLmodel of the optimized model: the onnx flavor, loadable with mlflow.onnx and mlflow.pyfunc. */
    static byte[] mlmodel(String modelId, RegistrationRequest request) {
        String yaml = "artifact_path: " + MODEL_FILE.replace(".onnx", "") + "\n"
                + "flavors:\n"
                + "  onnx:\n"
                + "    data: " + MODEL_FILE + "\n"
                + "    providers:\n"
                + "    - CPUExecutionProvider\n"
                + "  python_function:\n"
                + "    data: " + MODEL_FILE + "\n"
                + "    loader_module: mlflow.onnx\n"
                + "metadata:\n"
                + "  refinery_job_id: " + request.jobId() + "\n"
                + "model_id: " + modelId + "\n"
                + "utc_time_created: '" + Instant.now() + "'\n";
        return yaml.getBytes(StandardCharsets.UTF_8);
    }

    private static void tags(ArrayNode array, Map<String, String> tags) {
        tags.forEach((k, v) -> array.addObject().put("key", k).put("value", v));
    }

    private static Path write(Path dir, String name, byte[] content) {
        try {
            return Files.write(Files.createDirectories(dir).resolve(name), content);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + name + " for the upload", e);
        }
    }

    /** A value inside single quotes of an MLflow search filter. */
    private static String quote(String value) {
        return value.replace("\\", "\\\\").replace("'", "\\'");
    }
}
