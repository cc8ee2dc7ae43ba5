package io.modelrefinery.plugin.mlflow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelrefinery.api.event.ArtifactSummary;
import io.modelrefinery.api.event.JobReport;
import io.modelrefinery.api.event.ModelRef;
import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.api.event.RegisteredVersion;
import io.modelrefinery.api.event.RegistrationRequest;
import io.modelrefinery.api.event.RegistryContext;
import io.modelrefinery.api.event.RegistryException;
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

/** Write-back against the MLflow test server: what is logged and registered, once, and how a retry finds it. */
class MlflowWriterTest {
    @TempDir
    Path work;
    private MlflowTestServer mlflow;
    private RegistryContext context;
    private String sourceModel;
    private Path modelFile;
    private final MlflowWriter writer = new MlflowWriter();

    @BeforeEach
    void start() throws Exception {
        modelFile = Files.write(work.resolve("sample-cnn.onnx"), ConformanceModels.sampleCnn().toByteArray());
        mlflow = MlflowTestServer.start();
        context = MlflowFixtures.context(MlflowFixtures.tracking(mlflow), work, true);
        String run = mlflow.createRun("7");
        sourceModel = mlflow.logModel("7", "model", run, MlflowFixtures.onnxModelFiles());
        mlflow.registerVersion("seed-cnn", "models:/" + sourceModel, sourceModel, run, Map.of());
    }

    @AfterEach
    void stop() {
        mlflow.close();
    }

    private RegistrationRequest request(String jobId, String alias) {
        ModelRegistered source = new ModelRegistered("seed-cnn", "1", "models:/" + sourceModel, null, "fp16", null, null,
                null, "mlflow", Map.of());
        ArtifactSummary summary = new ArtifactSummary("file:///store/x.onnx", "0".repeat(64), 7_000, 6_000, 3_000, 0);
        JobReport report = new JobReport(jobId, new ModelRef("seed-cnn", "1"), "fp16", summary, summary, List.of(), null,
                null, List.of());
        return new RegistrationRequest(jobId, source, modelFile, report,
                "{\"jobId\":\"x\"}\n".getBytes(StandardCharsets.UTF_8), "seed-cnn", alias,
                Map.of("refinery.job-id", jobId, "refinery.source-version", "1", "refinery.pipeline", "fp16"));
    }

    @Test
    void theResultBecomesALoggedModelAndANewVersionWithTheTags() throws Exception {
        RegisteredVersion version = writer.register(request("job-00000000000000aa", "optimized"), context).orElseThrow();

        assertEquals(new RegisteredVersion("mlflow", "seed-cnn", "2", "models:/seed-cnn/2"), version);
        ObjectNode created = mlflow.versions("seed-cnn").get(1);
        String modelId = created.get("model_id").asText();
        assertEquals("models:/" + modelId, created.get("source").asText());
        assertEquals("job-00000000000000aa", tag(created, "refinery.job-id"));
        assertEquals("1", tag(created, "refinery.source-version"));
        assertEquals("2", mlflow.aliases("seed-cnn").get("optimized"));
        JsonNode model = mlflow.loggedModels().stream().filter(m -> m.at("/info/model_id").asText().equals(modelId))
                .findFirst().orElseThrow();
        assertEquals("LOGGED_MODEL_READY", model.at("/info/status").asText());
        assertEquals("7", model.at("/info/experiment_id").asText(), "in the source's experiment");
        Map<String, byte[]> files = mlflow.loggedModelFiles(modelId);
        assertArrayEquals(Files.readAllBytes(modelFile), files.get("model.onnx"));
        assertEquals("{\"jobId\":\"x\"}\n", new String(files.get("refinery-report.json"), StandardCharsets.UTF_8));
        MlModel mlmodel = MlModel.parse(files.get("MLmodel"), "the result");
        assertEquals(new MlModel.ModelFile("model.onnx", "onnx"), mlmodel.modelFile("the result", null));
        assertEquals(List.of("onnx", "python_function"), mlmodel.flavorNames());
    }

    @Test
    void aJobRegisteredBeforeIsFoundNotRegisteredAgain() {
        RegisteredVersion first = writer.register(request("job-00000000000000bb", null), context).orElseThrow();
        int logged = mlflow.loggedModels().size();

        RegisteredVersion again = writer.register(request("job-00000000000000bb", null), context).orElseThrow();

        assertEquals(first, again);
        assertEquals(2, mlflow.versions("seed-cnn").size());
        assertEquals(logged, mlflow.loggedModels().size());
    }

    @Test
    void anAttemptCutShortLeavesALoggedModelTheNextAttemptReuses() {
        mlflow.failNext("/api/2.0/mlflow/model-versions/create", 503, "TEMPORARILY_UNAVAILABLE", 1);

        RegistryException down = assertThrows(RegistryException.class,
                () -> writer.register(request("job-00000000000000cc", null), context));
        int logged = mlflow.loggedModels().size();
        RegisteredVersion version = writer.register(request("job-00000000000000cc", null), context).orElseThrow();

        assertTrue(down.retriable(), down.getMessage());
        assertEquals(logged, mlflow.loggedModels().size(), "the logged model of the first attempt is reused");
        assertEquals("2", version.version());
    }

    @Test
    void registrationsOfOtherRegistriesAreLeftAlone() {
        ModelRegistered s3 = new ModelRegistered("pkg", "3", "s3://bucket/model.tar.gz", null, null, null, null, null,
                "aws.sagemaker", Map.of());
        RegistrationRequest request = request("job-00000000000000dd", null);
        RegistrationRequest other = new RegistrationRequest(request.jobId(), s3, request.modelFile(), request.report(),
                request.reportJson(), "pkg", null, request.tags());

        Optional<RegisteredVersion> none = writer.register(other, context);
        Optional<RegisteredVersion> unconfigured = writer.register(request,
                MlflowFixtures.context(RegistryHarness.none(), work, true));

        assertTrue(none.isEmpty());
        assertTrue(unconfigured.isEmpty());
    }

    private static String tag(JsonNode version, String key) {
        for (JsonNode t : version.path("tags")) {
            if (t.path("key").asText().equals(key)) {
                return t.path("value").asText();
            }
        }
        return null;
    }
}
