package io.modelrefinery.plugin.mlflow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.ArtifactResolver;
import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.api.event.RegistryContext;
import io.modelrefinery.api.event.RegistryException;
import io.modelrefinery.api.event.ResolvedArtifact;
import org.osgi.service.component.annotations.Component;

import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * Finds a registered model through an MLflow tracking server: MLflow's {@code models:/}, {@code runs:/}
 * and {@code mlflow-artifacts:/} sources, and registrations without a URI from MLflow, from Azure Machine
 * Learning (its workspace's MLflow-compatible tracking URI serves the same API) or from the refinery's
 * own {@code POST /models}, looked up by name and version. It asks the registry where the version's
 * artifacts are, reads their {@code MLmodel} file, picks the file of a flavor the refinery reads
 * ({@link MlModel}) and downloads it, with the ONNX external data next to it, into the job's folder.
 * Artifacts are read where MLflow says they are ({@link ModelArtifacts}): through the artifact proxy, or,
 * for Azure Machine Learning's {@code azureml:} locations, through the workspace's artifact service and
 * the storage links it hands out ({@link AzureMlArtifacts}).
 */
@Component(service = ArtifactResolver.class)
public final class MlflowResolver implements ArtifactResolver {
    /** The source the host gives MLflow webhook deliveries, and the refinery's own registrations. */
    private static final Set<String> NAME_AND_VERSION_SOURCES = Set.of("mlflow", "/model-refinery");
    /** Files MLflow writes next to a model's weights, which a model does not need. */
    private static final Set<String> MLFLOW_FILES = Set.of("MLmodel", "conda.yaml", "python_env.yaml",
            "requirements.txt", "constraints.txt", "input_example.json", "serving_input_example.json",
            "registered_model_meta");
    private static final List<String> MODEL_FILE_SUFFIXES = List.of(".onnx", ".keras", ".h5", ".tflite");

    @Override
    public Optional<ResolvedArtifact> resolve(ModelRegistered registered, RegistryContext context) {
        if (!claims(registered)) {
            return Optional.empty();
        }
        boolean mlflowUri = hasMlflowUri(registered);
        Optional<TrackingServer> server = TrackingServer.from(context);
        if (server.isEmpty()) {
            if (mlflowUri) {
                throw new InvalidInputException("'" + registered.uri() + "' is an MLflow URI, and no MLflow tracking "
                        + "server is configured (serve --mlflow-tracking-uri or $MLFLOW_TRACKING_URI)");
            }
            return Optional.empty();
        }
        requireSameWorkspace(registered, server.get());
        MlflowClient client = new MlflowClient(server.get(), context);
        ModelSource source = mlflowUri ? ModelSource.parse(registered.uri())
                : new ModelSource.Version(registered.name(), registered.version());
        String location = mlflowUri ? registered.uri()
                : "models:/" + registered.name() + "/" + registered.version();
        return Optional.of(download(client, locate(client, source), location));
    }

    /**
     * Whether the registration is MLflow's to resolve: an MLflow URI, or no URI and a source whose
     * registrations name an MLflow (or Azure ML) model version.
     */
    static boolean claims(ModelRegistered registered) {
        return hasMlflowUri(registered) || (registered.uri() == null && namedByVersion(registered.source()));
    }

    static boolean hasMlflowUri(ModelRegistered registered) {
        return registered.uri() != null && ModelSource.isMlflowUri(URI.create(registered.uri()));
    }

    /** Whether a registration without a URI from {@code source} names an MLflow (or Azure ML) model version. */
    private static boolean namedByVersion(String source) {
        return source == null || NAME_AND_VERSION_SOURCES.contains(source) || azureWorkspace(source) != null;
    }

    /** The workspace path of an Azure Machine Learning event source, lower case, or {@code null}. */
    static String azureWorkspace(String source) {
        if (source == null) {
            return null;
        }
        String s = source.toLowerCase(Locale.ROOT).replaceAll("/+$", "");
        return s.startsWith("/subscriptions/") && s.contains("/providers/microsoft.machinelearningservices/workspaces/")
                ? s : null;
    }

    /** An Azure ML event must come from the workspace the tracking URI points to, when it points to one. */
    private static void requireSameWorkspace(ModelRegistered registered, TrackingServer server) {
        String workspace = azureWorkspace(registered.source());
        if (workspace != null && server.workspace() != null && !server.workspace().equals(workspace)) {
            throw new InvalidInputException("the event comes from Azure Machine Learning workspace " + registered.source()
                    + ", and MLFLOW_TRACKING_URI points to another workspace (" + server.workspace() + ")");
        }
    }

    /** Where the source's artifacts are, as MLflow resolves it. */
    static ModelArtifacts locate(MlflowClient client, ModelSource source) {
        TrackingServer server = client.server();
        if (source instanceof ModelSource.Version v) {
            return versionArtifacts(client, v.name(), v.version());
        }
        if (source instanceof ModelSource.Alias a) {
            JsonNode version = client.get("registered-models/alias", MlflowClient.params("name", a.name(), "alias",
                    a.alias())).path("model_version");
            return versionArtifacts(client, a.name(), version.path("version").asText());
        }
        if (source instanceof ModelSource.Latest l) {
            JsonNode versions = client.get("registered-models/get-latest-versions", MlflowClient.params("name", l.name(),
                    "stages", l.stage() == null ? null : List.of(l.stage()))).path("model_versions");
            long newest = -1;
            for (JsonNode v : versions) {
                newest = Math.max(newest, v.path("version").asLong(-1));
            }
            if (newest < 0) {
                throw new InvalidInputException("MLflow has no " + (l.stage() == null ? "" : l.stage() + " ")
                        + "version of model '" + l.name() + "'");
            }
            return versionArtifacts(client, l.name(), Long.toString(newest));
        }
        if (source instanceof ModelSource.LoggedModel m) {
            JsonNode info = client.get("logged-models/" + MlflowClient.encode(m.modelId()), java.util.Map.of())
                    .path("model").path("info");
            requireReady(info.path("status").asText(""), "logged model " + m.modelId());
            return ModelArtifacts.of(info.path("artifact_uri").asText(), server);
        }
        if (source instanceof ModelSource.Run r) {
            return runArtifacts(client, r.runId(), r.path());
        }
        return ModelArtifacts.of(((ModelSource.Artifacts) source).uri(), server);
    }

    private static ModelArtifacts versionArtifacts(MlflowClient client, String name, String version) {
        JsonNode mv = client.get("model-versions/get", MlflowClient.params("name", name, "version", version))
                .path("model_version");
        String status = mv.path("status").asText("READY");
        if (status.equals("PENDING_REGISTRATION")) {
            throw new RegistryException("MLflow model version " + name + " " + version + " is still being registered "
                    + "(PENDING_REGISTRATION)", true);
        }
        if (status.equals("FAILED_REGISTRATION")) {
            throw new InvalidInputException("MLflow model version " + name + " " + version + " failed to register: "
                    + MlflowClient.oneLine(mv.path("status_message").asText("")));
        }
        String uri = client.get("model-versions/get-download-uri", MlflowClient.params("name", name, "version", version))
                .path("artifact_uri").asText("");
        if (uri.isEmpty()) {
            throw new InvalidInputException("MLflow gave no download URI for model version " + name + " " + version);
        }
        return ModelArtifacts.of(uri, client.server());
    }

    /**
     * A run's artifact at {@code path}. Since MLflow 3 {@code log_model(name=...)} keeps a model apart
     * from its run, as a logged model of that name whose source run is the run; like MLflow's client,
     * such a model wins over the run's own artifacts.
     */
    private static ModelArtifacts runArtifacts(MlflowClient client, String runId, String path) {
        JsonNode info = client.get("runs/get", MlflowClient.params("run_id", runId)).path("run").path("info");
        String first = path.contains("/") ? path.substring(0, path.indexOf('/')) : path;
        String rest = path.contains("/") ? path.substring(path.indexOf('/') + 1) : "";
        if (!first.isEmpty()) {
            ObjectNode search = MlflowClient.JSON.createObjectNode();
            search.putArray("experiment_ids").add(info.path("experiment_id").asText());
            search.put("filter", "name = '" + first.replace("'", "\\'") + "'");
            try {
                for (JsonNode model : client.send("POST", "logged-models/search", search).path("models")) {
                    JsonNode m = model.path("info");
                    if (runId.equals(m.path("source_run_id").asText())) {
                        requireReady(m.path("status").asText(""), "logged model " + m.path("model_id").asText());
                        return ModelArtifacts.of(m.path("artifact_uri").asText(), client.server()).child(rest);
                    }
                }
            } catch (MlflowError e) {
                if (e.status() != 404) { // an MLflow 2 server has no logged models: the run's artifacts it is
                    throw e;
                }
            }
        }
        return ModelArtifacts.of(info.path("artifact_uri").asText(), client.server()).child(path);
    }

    private static void requireReady(String status, String what) {
        if (status.equals("LOGGED_MODEL_PENDING")) {
            throw new RegistryException("MLflow " + what + " is still being uploaded (LOGGED_MODEL_PENDING)", true);
        }
        if (status.equals("LOGGED_MODEL_UPLOAD_FAILED")) {
            throw new InvalidInputException("MLflow " + what + " failed to upload (LOGGED_MODEL_UPLOAD_FAILED)");
        }
    }

    /**
     * Downloads the model at {@code at}: the file of its {@code MLmodel} flavor (with, for ONNX, the other
     * files of its folder: external data), or {@code at} itself when it names a model file.
     */
    static ResolvedArtifact download(MlflowClient client, ModelArtifacts at, String location) {
        String lower = at.uri().toLowerCase(Locale.ROOT);
        if (MODEL_FILE_SUFFIXES.stream().anyMatch(lower::endsWith)) {
            return ResolvedArtifact.downloaded(location, at.download(client, ""), null);
        }
        byte[] mlmodel;
        try {
            mlmodel = at.read(client, "MLmodel");
        } catch (MlflowError e) {
            if (e.status() == 404) {
                throw new InvalidInputException(location + " is not an MLflow model: " + at.uri() + " has no MLmodel file");
            }
            throw e;
        }
        MlModel model = MlModel.parse(mlmodel, location);
        String tflite = null;
        if (model.flavorNames().stream().noneMatch(Set.of("onnx", "keras", "tensorflow")::contains)) {
            List<String> found = at.files(client, "").stream().filter(f -> f.toLowerCase(Locale.ROOT).endsWith(".tflite"))
                    .toList();
            tflite = found.size() == 1 ? found.get(0) : null;
        }
        MlModel.ModelFile file = model.modelFile(location, tflite);
        Path downloaded = at.download(client, file.path());
        if (file.format().equals("onnx")) {
            String folder = file.path().contains("/") ? file.path().substring(0, file.path().lastIndexOf('/')) : "";
            String dataName = file.path().substring(file.path().lastIndexOf('/') + 1);
            for (String name : at.files(client, folder)) {
                if (!name.equals(dataName) && !MLFLOW_FILES.contains(name)) {
                    at.download(client, folder.isEmpty() ? name : folder + "/" + name);
                }
            }
        }
        return ResolvedArtifact.downloaded(location, downloaded, file.format());
    }
}
