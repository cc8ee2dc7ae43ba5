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
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The resolver against the MLflow test server through the host's real registry context (the test kit's RegistryHarness): every source
 * form MLflow gives, the ONNX external data MLflow's onnx flavor writes, credentials, and the failures.
 */
class MlflowResolverTest {
    private static final String AZURE_WORKSPACE = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg"
            + "/providers/Microsoft.MachineLearningServices/workspaces/ws";

    @TempDir
    Path work;
    private MlflowTestServer mlflow;
    private final MlflowResolver resolver = new MlflowResolver();

    @BeforeEach
    void start() throws Exception {
        mlflow = MlflowTestServer.start();
    }

    @AfterEach
    void stop() {
        mlflow.close();
    }

    private static ModelRegistered registration(String name, String version, String uri, String source) {
        return new ModelRegistered(name, version, uri, null, null, null, null, null, source, Map.of());
    }

    private ResolvedArtifact resolve(ModelRegistered registered) {
        return resolve(registered, MlflowFixtures.context(MlflowFixtures.tracking(mlflow), work, true)).orElseThrow();
    }

    private Optional<ResolvedArtifact> resolve(ModelRegistered registered, RegistryContext context) {
        return resolver.resolve(registered, context);
    }

    @Test
    void anMlflow3ModelComesWithItsExternalDataAndLoadsWhole() throws Exception {
        String run = mlflow.createRun("1");
        String modelId = mlflow.logModel("1", "model", run, MlflowFixtures.onnxModelFiles());
        mlflow.registerVersion("seed-cnn", "models:/" + modelId, modelId, run, Map.of());

        ResolvedArtifact found = resolve(registration("seed-cnn", "1", "models:/" + modelId, "mlflow"));

        assertEquals("models:/" + modelId, found.location());
        assertEquals("onnx", found.format());
        assertEquals(work.resolve("model.onnx"), found.file());
        assertTrue(Files.isRegularFile(work.resolve(MlflowFixtures.externalDataName())), "the external data is next to it");
        assertTrue(Files.notExists(work.resolve("conda.yaml")), "MLflow's own files stay behind");
        OnnxModel loaded = OnnxModel.load(found.file());
        OnnxModel original = ConformanceModels.sampleCnn();
        assertEquals(original.graph().getInitializerCount(), loaded.graph().getInitializerCount());
        String name = original.graph().getInitializer(0).getName();
        assertEquals(original.initializer(name).orElseThrow().toString(), loaded.initializer(name).orElseThrow().toString());
    }

    @Test
    void everyFormOfSourceFindsTheSameModel() throws Exception {
        String run = mlflow.createRun("3");
        String modelId = mlflow.logModel("3", "model", run, MlflowFixtures.onnxModelFiles());
        mlflow.registerVersion("seed-cnn", "models:/" + modelId, modelId, run, Map.of());
        mlflow.registerVersion("seed-cnn", "models:/" + modelId, modelId, run, Map.of());
        String artifacts = "mlflow-artifacts:/3/models/" + modelId + "/artifacts";
        // An alias as mlflow.MlflowClient().set_registered_model_alias sets it, through the REST API.
        java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(mlflow.uri()
                        .resolve("/api/2.0/mlflow/registered-models/alias")).header("Content-Type", "application/json")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"name\":\"seed-cnn\",\"alias\":\"champion\",\"version\":\"1\"}"))
                .build(), java.net.http.HttpResponse.BodyHandlers.discarding());
        byte[] expected = MlflowFixtures.onnxModelFiles().get("model.onnx");

        List<ModelRegistered> forms = List.of(
                registration("seed-cnn", "2", "models:/seed-cnn/2", "mlflow"),
                registration("seed-cnn", "1", "models:/seed-cnn@champion", "mlflow"),
                registration("seed-cnn", "2", "models:/seed-cnn/latest", "mlflow"),
                registration("seed-cnn", "2", "runs:/" + run + "/model", "mlflow"),
                registration("seed-cnn", "2", artifacts, "/model-refinery"),
                registration("seed-cnn", "2", null, "mlflow"),
                registration("seed-cnn", "1", null, AZURE_WORKSPACE));
        for (ModelRegistered form : forms) {
            Path dir = Files.createDirectories(work.resolve("job-" + forms.indexOf(form)));
            ResolvedArtifact found = resolve(form, MlflowFixtures.context(MlflowFixtures.tracking(mlflow), dir, true))
                    .orElseThrow();
            assertArrayEquals(expected, Files.readAllBytes(found.file()), form.toString());
            assertTrue(Files.isRegularFile(dir.resolve(MlflowFixtures.externalDataName())), form.toString());
        }
    }

    @Test
    void aRunOfAnMlflow2ServerIsReadFromTheRunsArtifacts() throws Exception {
        mlflow.close();
        mlflow = MlflowTestServer.start().withoutLoggedModels();
        String run = mlflow.createRun("0");
        MlflowFixtures.onnxModelFiles().forEach((name, content) -> mlflow.putArtifact("0/" + run + "/artifacts/model/" + name,
                content));

        ResolvedArtifact found = resolve(registration("cnn", "1", "runs:/" + run + "/model", "mlflow"));

        assertArrayEquals(MlflowFixtures.onnxModelFiles().get("model.onnx"), Files.readAllBytes(found.file()));
    }

    @Test
    void kerasAndTfliteModelsAreFoundByTheirFlavorAndFile() throws Exception {
        byte[] keras = "PK-keras-archive".getBytes(StandardCharsets.UTF_8);
        String kerasModel = mlflow.logModel("1", "k", null, Map.of("MLmodel", ("flavors:\n  keras:\n    data: data\n"
                + "    keras_backend: tensorflow\n    keras_version: 3.6.0\n    save_exported_model: false\n"
                + "  python_function:\n    loader_module: mlflow.keras\n").getBytes(StandardCharsets.UTF_8),
                "data/model.keras", keras, "data/keras_module.txt", "keras".getBytes(StandardCharsets.UTF_8)));
        byte[] tflite = "TFL3".getBytes(StandardCharsets.UTF_8);
        String tfliteModel = mlflow.logModel("1", "t", null, Map.of("MLmodel", ("flavors:\n  python_function:\n"
                + "    artifacts:\n      model:\n        path: artifacts/model.tflite\n    loader_module: mlflow.pyfunc.model\n")
                .getBytes(StandardCharsets.UTF_8), "model.tflite", tflite));

        ResolvedArtifact k = resolve(registration("k", "1", "models:/" + kerasModel, "mlflow"));
        ResolvedArtifact t = resolve(registration("t", "1", "models:/" + tfliteModel, "mlflow"));

        assertEquals("keras", k.format());
        assertArrayEquals(keras, Files.readAllBytes(k.file()));
        assertEquals("tflite", t.format());
        assertArrayEquals(tflite, Files.readAllBytes(t.file()));
    }

    @Test
    void otherFlavorsAreRefusedByName() {
        String id = mlflow.logModel("1", "rf", null, Map.of("MLmodel", ("flavors:\n  python_function:\n"
                + "    loader_module: mlflow.sklearn\n  sklearn:\n    pickled_model: model.pkl\n"
                + "    serialization_format: cloudpickle\n").getBytes(StandardCharsets.UTF_8),
                "model.pkl", new byte[] {1, 2}));

        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> resolve(registration("rf", "1", "models:/" + id, "mlflow")));
        assertEquals("the MLflow model models:/" + id + " has flavors python_function, sklearn, none of which the refinery "
                + "reads (onnx, keras, tf.keras saved as h5, or a .tflite file)", e.getMessage());
    }

    @Test
    void aMissingVersionIsBadInputAndAServerErrorIsRetriable() {
        mlflow.registerVersion("seed-cnn", "mlflow-artifacts:/0/x/artifacts/model", null, null, Map.of());

        InvalidInputException missing = assertThrows(InvalidInputException.class,
                () -> resolve(registration("seed-cnn", "9", "models:/seed-cnn/9", "mlflow")));
        mlflow.failNext("/api/2.0/mlflow/model-versions/get", 500, "INTERNAL_ERROR", 1);
        RegistryException down = assertThrows(RegistryException.class,
                () -> resolve(registration("seed-cnn", "1", null, "mlflow")));

        assertTrue(missing.getMessage().startsWith("MLflow GET model-versions/get at " + mlflow.uri()
                + " answered 404 RESOURCE_DOES_NOT_EXIST: Model Version (name=seed-cnn, version=9) not found"),
                missing.getMessage());
        assertTrue(down.retriable());
        assertTrue(down.getMessage().contains("answered 500 INTERNAL_ERROR"), down.getMessage());
    }

    @Test
    void credentialsGoToTheTrackingServerAndAWrongOneIsNotRetried() throws Exception {
        mlflow.close();
        mlflow = MlflowTestServer.withToken("s3cret");
        String id = mlflow.logModel("1", "model", null, MlflowFixtures.onnxModelFiles());
        RegistryHarness token = MlflowFixtures.tracking(mlflow).with("MLFLOW_TRACKING_TOKEN", "s3cret");
        RegistryHarness wrong = MlflowFixtures.tracking(mlflow).with("MLFLOW_TRACKING_TOKEN", "guess");

        resolve(registration("m", "1", "models:/" + id, "mlflow"), MlflowFixtures.context(token, work, true)).orElseThrow();
        RegistryException refused = assertThrows(RegistryException.class, () -> resolve(registration("m", "1",
                "models:/" + id, "mlflow"), MlflowFixtures.context(wrong, work, true)));

        assertTrue(mlflow.requests().stream().filter(r -> r.header("authorization") != null)
                .anyMatch(r -> r.header("authorization").equals("Bearer s3cret")));
        assertTrue(refused.getMessage().contains("answered 401"), refused.getMessage());
        assertTrue(!refused.retriable() && !refused.getMessage().contains("guess"), refused.getMessage());

        mlflow.close();
        mlflow = MlflowTestServer.withBasicAuth("alice", "pw");
        String basic = mlflow.logModel("1", "model", null, MlflowFixtures.onnxModelFiles());
        RegistryHarness alice = MlflowFixtures.tracking(mlflow).with("MLFLOW_TRACKING_USERNAME", "alice")
                .with("MLFLOW_TRACKING_PASSWORD", "pw").with("MLFLOW_TRACKING_TOKEN", "ignored-when-basic-is-set");
        Path other = Files.createDirectories(work.resolve("basic"));
        assertTrue(resolve(registration("m", "1", "models:/" + basic, "mlflow"), MlflowFixtures.context(alice, other, true))
                .isPresent());
    }

    @Test
    void aPrivateTrackingAddressNeedsItsHostNamedByTheOperator() {
        String id = mlflow.logModel("1", "model", null, MlflowFixtures.onnxModelFiles());

        InvalidInputException e = assertThrows(InvalidInputException.class, () -> resolve(registration("m", "1",
                "models:/" + id, "mlflow"), MlflowFixtures.context(MlflowFixtures.tracking(mlflow), work, false)));

        assertTrue(e.getMessage().contains("resolving to the non-public address 127.0.0.1 (only hosts named with "
                + "--allow-private-host may)"), e.getMessage());
        assertTrue(mlflow.requests().isEmpty(), "nothing was sent");
    }

    @Test
    void registriesItDoesNotKnowAreLeftToOthersAndMlflowUrisNeedATrackingServer() {
        RegistryContext none = MlflowFixtures.context(RegistryHarness.none(), work, true);

        assertTrue(resolve(registration("m", "1", "s3://bucket/model.tar.gz", "aws.sagemaker"), none).isEmpty());
        assertTrue(resolve(registration("m", "1", null, "/test-registry"), none).isEmpty());
        assertTrue(resolve(registration("m", "1", null, "mlflow"), none).isEmpty());
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> resolve(registration("m", "1", "models:/m/1", "mlflow"), none));
        assertEquals("'models:/m/1' is an MLflow URI, and no MLflow tracking server is configured "
                + "(serve --mlflow-tracking-uri or $MLFLOW_TRACKING_URI)", e.getMessage());
    }

    @Test
    void anAzureEventMustComeFromTheWorkspaceAnAzureTrackingUriNames() {
        RegistryHarness azure = RegistryHarness.none().with("MLFLOW_TRACKING_URI", "azureml://127.0.0.1:1/mlflow/v1.0"
                + AZURE_WORKSPACE.replace("/ws", "/other"));

        InvalidInputException e = assertThrows(InvalidInputException.class, () -> resolve(registration("m", "1", null,
                AZURE_WORKSPACE), MlflowFixtures.context(azure, work, true)));
        assertTrue(e.getMessage().startsWith("the event comes from Azure Machine Learning workspace " + AZURE_WORKSPACE
                + ", and MLFLOW_TRACKING_URI points to another workspace"), e.getMessage());
        assertEquals("https://127.0.0.1:1/mlflow/v1.0" + AZURE_WORKSPACE.replace("/ws", "/other"),
                TrackingServer.parse("azureml://127.0.0.1:1/mlflow/v1.0" + AZURE_WORKSPACE.replace("/ws", "/other"), null)
                        .base().toString());
    }
}
