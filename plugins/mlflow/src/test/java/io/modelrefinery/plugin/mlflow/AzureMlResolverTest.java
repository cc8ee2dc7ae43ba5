package io.modelrefinery.plugin.mlflow;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.api.event.RegistryContext;
import io.modelrefinery.api.event.RegistryException;
import io.modelrefinery.api.event.ResolvedArtifact;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.RegistryHarness;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The resolver against an Azure Machine Learning workspace ({@link AzureMlTestServer}) through the host's
 * real registry context: the {@code azureml:} locations the workspace's MLflow endpoint gives, read through
 * its artifact service and the storage SAS links it hands out, with the credentials going to the
 * workspace only, the storage host held to the host policy, and each failure reported as what it is.
 */
class AzureMlResolverTest {
    private static final String TOKEN = "entra-id-access-token";

    @TempDir
    Path work;
    private AzureMlTestServer azure;
    private final MlflowResolver resolver = new MlflowResolver();

    @BeforeEach
    void start() throws Exception {
        azure = AzureMlTestServer.start(TOKEN);
    }

    @AfterEach
    void stop() {
        azure.close();
    }

    private RegistryHarness tracking() {
        return RegistryHarness.none().with("MLFLOW_TRACKING_URI", azure.trackingUri().toString())
                .with("MLFLOW_TRACKING_TOKEN", TOKEN);
    }

    private RegistryContext context(Path dir) {
        return tracking().context(dir, true);
    }

    /** What Azure Machine Learning's ModelRegistered event becomes: name, version, the workspace as source. */
    private static ModelRegistered azureEvent(String name, String version) {
        return new ModelRegistered(name, version, null, null, null, null, null, null, AzureMlTestServer.WORKSPACE, Map.of());
    }

    private ResolvedArtifact resolve(ModelRegistered registered, Path dir) {
        return resolver.resolve(registered, context(dir)).orElseThrow();
    }

    private String registerRunModel(String name) {
        String source = azure.logRunArtifacts("a7c1e2f0-5b3d-4e6a-8c9f-1d2e3f4a5b6c", "sincere_lamp_4k2x9d", "model",
                MlflowFixtures.onnxModelFiles());
        azure.mlflow().registerVersion(name, source, null, null, Map.of());
        return source;
    }

    @Test
    void aWorkspaceVersionComesThroughTheArtifactServiceAndItsStorageLinks() throws Exception {
        registerRunModel("seed-cnn");

        ResolvedArtifact found = resolve(azureEvent("seed-cnn", "1"), work);

        assertEquals("onnx", found.format());
        assertEquals(work.resolve("model.onnx"), found.file());
        assertArrayEquals(MlflowFixtures.onnxModelFiles().get("model.onnx"), Files.readAllBytes(found.file()));
        assertTrue(Files.isRegularFile(work.resolve(MlflowFixtures.externalDataName())), "the external data is next to it");
        assertTrue(Files.notExists(work.resolve("conda.yaml")), "MLflow's own files stay behind");
        assertEquals(ConformanceModels.sampleCnn().graph().getInitializerCount(),
                OnnxModel.load(found.file()).graph().getInitializerCount());
        List<AzureMlTestServer.Request> service = azure.requests().stream().filter(r -> r.path().startsWith("/history/"))
                .toList();
        assertTrue(service.stream().anyMatch(r -> r.path().endsWith("/runs/sincere_lamp_4k2x9d/artifacts/contentinfo")
                && "path=model%2FMLmodel".equals(r.query())), service.toString());
        assertTrue(service.stream().allMatch(r -> ("Bearer " + TOKEN).equals(r.header("authorization"))));
        assertTrue(service.stream().anyMatch(r -> r.query() != null && r.query().startsWith("continuationToken=")),
                "the listing was followed past its first page");
        assertFalse(azure.storageRequests().isEmpty());
        assertTrue(azure.storageRequests().stream().allMatch(r -> r.header("authorization") == null),
                "the token never goes to storage: the SAS is the credential there");
    }

    @Test
    void everyAzureLocationFormFindsTheSameModel() throws Exception {
        String longForm = registerRunModel("cnn");
        String shortForm = "azureml://experiments/a7c1e2f0-5b3d-4e6a-8c9f-1d2e3f4a5b6c/runs/sincere_lamp_4k2x9d/artifacts/model";
        String local = azure.uploadLocal("261130T090000-3f2a1b0c", "seed_cnn", MlflowFixtures.onnxModelFiles());
        azure.mlflow().registerVersion("cnn", shortForm, null, null, Map.of());
        azure.mlflow().registerVersion("cnn", local, null, null, Map.of());
        byte[] expected = MlflowFixtures.onnxModelFiles().get("model.onnx");

        List<ModelRegistered> forms = List.of(azureEvent("cnn", "1"), azureEvent("cnn", "2"), azureEvent("cnn", "3"),
                new ModelRegistered("cnn", "1", longForm + "/model.onnx", null, null, null, null, null, "/model-refinery",
                        Map.of()));
        for (ModelRegistered form : forms) {
            Path dir = Files.createDirectories(work.resolve("job-" + forms.indexOf(form)));
            ResolvedArtifact found = resolve(form, dir);
            assertArrayEquals(expected, Files.readAllBytes(found.file()), form.toString());
        }
        assertTrue(Files.isRegularFile(work.resolve("job-2").resolve(MlflowFixtures.externalDataName())));
        assertTrue(azure.requests().stream().anyMatch(r -> r.path().equals("/artifact/v2.0" + AzureMlTestServer.WORKSPACE
                + "/artifacts/LocalUpload/261130T090000-3f2a1b0c/contentinfo")), "the container form's own API");
    }

    @Test
    void theStorageHostIsHeldToTheHostPolicyLikeAnyOther() {
        azure.storageHost("localhost");
        registerRunModel("seed-cnn");

        InvalidInputException e = assertThrows(InvalidInputException.class, () -> resolve(azureEvent("seed-cnn", "1"), work));

        assertTrue(e.getMessage().startsWith("reading model/MLmodel from the storage account of the workspace, localhost: "),
                e.getMessage());
        assertTrue(e.getMessage().contains("has host 'localhost', not on the allowed hosts"), e.getMessage());
        assertTrue(azure.storageRequests().isEmpty(), "nothing went to a storage host the operator did not allow");
    }

    @Test
    void aRevokedLinkIsRetriedAMissingMlmodelIsNotAModelAndTheServiceFailingIsRetriable() throws Exception {
        registerRunModel("seed-cnn");
        String empty = azure.uploadLocal("261130T090000-0000aaaa", "notes", Map.of("README.md",
                "no model".getBytes(StandardCharsets.UTF_8)));
        azure.mlflow().registerVersion("notes", empty, null, null, Map.of());

        azure.failNext("/contentinfo", 503, "TransientError", 1);
        RegistryException down = assertThrows(RegistryException.class, () -> resolve(azureEvent("seed-cnn", "1"), work));
        InvalidInputException notAModel = assertThrows(InvalidInputException.class, () -> resolve(azureEvent("notes", "1"),
                work));
        ResolvedArtifact fine = resolve(azureEvent("seed-cnn", "1"), Files.createDirectories(work.resolve("again")));

        assertTrue(down.retriable(), down.getMessage());
        assertTrue(down.getMessage().contains("answered 503 TransientError"), down.getMessage());
        assertEquals("models:/notes/1 is not an MLflow model: " + empty + " has no MLmodel file", notAModel.getMessage());
        assertTrue(Files.isRegularFile(fine.file()));
    }

    @Test
    void aStorageLinkRefusedAsExpiredIsRetriedWithAFreshOne() throws Exception {
        String source = registerRunModel("seed-cnn");

        azure.refuseNextSas("/MLmodel", 1);
        RegistryException mlmodel = assertThrows(RegistryException.class, () -> resolve(azureEvent("seed-cnn", "1"),
                Files.createDirectories(work.resolve("a"))));
        azure.refuseNextSas("/model.onnx", 1);
        RegistryException model = assertThrows(RegistryException.class, () -> resolve(azureEvent("seed-cnn", "1"),
                Files.createDirectories(work.resolve("b"))));
        ResolvedArtifact retried = resolve(azureEvent("seed-cnn", "1"), Files.createDirectories(work.resolve("c")));

        assertTrue(mlmodel.retriable(), mlmodel.getMessage());
        assertEquals("Azure Blob Storage answered 403 for model/MLmodel of " + source, mlmodel.getMessage());
        assertTrue(model.retriable(), model.getMessage());
        assertEquals("Azure Blob Storage answered 403 for model/model.onnx of " + source, model.getMessage());
        assertTrue(Files.isRegularFile(retried.file()));
    }

    @Test
    void aWrongTokenIsNotRetriedAndNamesTheSettingToCheck() {
        registerRunModel("seed-cnn");
        RegistryHarness wrong = RegistryHarness.none().with("MLFLOW_TRACKING_URI", azure.trackingUri().toString())
                .with("MLFLOW_TRACKING_TOKEN", "expired");

        RegistryException e = assertThrows(RegistryException.class, () -> resolver.resolve(azureEvent("seed-cnn", "1"),
                wrong.context(work, true)));

        assertFalse(e.retriable());
        assertTrue(e.getMessage().contains("answered 401") && e.getMessage().contains("MLFLOW_TRACKING_TOKEN"), e.getMessage());
        assertFalse(e.getMessage().contains("expired"), "the token is not in the message");
    }

    @Test
    void locationsOutsideTheWorkspaceAreRefusedByName() {
        TrackingServer server = TrackingServer.parse(azure.trackingUri().toString(), null);
        String other = AzureMlTestServer.WORKSPACE.replace("/ml-ws", "/other-ws");

        InvalidInputException registry = assertThrows(InvalidInputException.class, () -> ModelArtifacts.of(
                "azureml://westeurope.api.azureml.ms/mlflow/v2.0/registries/shared/models/cnn/versions/1/storage/x/paths/y/z",
                server));
        InvalidInputException crossWorkspace = assertThrows(InvalidInputException.class, () -> ModelArtifacts.of(
                "azureml://westeurope.api.azureml.ms/mlflow/v2.0" + other + "/experiments/e/runs/r/artifacts/model", server));
        InvalidInputException datastore = assertThrows(InvalidInputException.class, () -> ModelArtifacts.of(
                "azureml://datastores/workspaceblobstore/paths/models/cnn", server));
        InvalidInputException notAzure = assertThrows(InvalidInputException.class, () -> ModelArtifacts.of(
                "azureml://experiments/e/runs/r/artifacts/model", TrackingServer.parse("http://mlflow.internal:5000", null)));

        InvalidInputException writeBack = assertThrows(InvalidInputException.class, () -> ArtifactLocation.of(
                "azureml://experiments/e/runs/r/artifacts/model", server));

        assertTrue(writeBack.getMessage().endsWith("writing a model back there is not supported (turn --mlflow-register "
                + "off for Azure ML)"), writeBack.getMessage());
        assertTrue(registry.getMessage().contains("is in an Azure Machine Learning registry"), registry.getMessage());
        assertTrue(crossWorkspace.getMessage().contains("another Azure Machine Learning workspace"), crossWorkspace.getMessage());
        assertTrue(datastore.getMessage().contains("is not an Azure Machine Learning artifact location the refinery reads"),
                datastore.getMessage());
        assertTrue(notAzure.getMessage().contains("MLFLOW_TRACKING_URI is not the tracking URI of an Azure Machine "
                + "Learning workspace"), notAzure.getMessage());
    }

    @Test
    void theWorkspaceIsReadFromEitherFormOfTheTrackingUri() {
        String https = "https://westeurope.api.azureml.ms/mlflow/v1.0" + AzureMlTestServer.WORKSPACE;

        assertEquals(AzureMlTestServer.WORKSPACE, TrackingServer.parse(https, null).workspacePath());
        assertEquals(AzureMlTestServer.WORKSPACE, TrackingServer.parse(https.replace("https:", "azureml:"), null)
                .workspacePath());
        assertEquals("https://westeurope.api.azureml.ms", TrackingServer.parse(https.replace("https:", "azureml:"), null).origin().toString());
        assertNull(TrackingServer.parse("http://mlflow.internal:5000", null).workspacePath());
    }

}
