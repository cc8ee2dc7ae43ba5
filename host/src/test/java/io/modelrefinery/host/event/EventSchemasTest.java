package io.modelrefinery.host.event;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SchemaLocation;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.event.ArtifactSummary;
import io.modelrefinery.api.event.JobReport;
import io.modelrefinery.api.event.ModelFailed;
import io.modelrefinery.api.event.ModelRef;
import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.TransformKind;
import io.modelrefinery.api.plugin.TransformResult;
import io.modelrefinery.host.auto.AutoSettings;
import io.modelrefinery.host.auto.RecipeSearch;
import io.modelrefinery.host.eval.ArtifactMeasurer;
import io.modelrefinery.host.eval.Evaluator;
import io.modelrefinery.host.eval.QualityGates;
import io.modelrefinery.host.job.GateFailedException;
import io.modelrefinery.host.job.JobRequest;
import io.modelrefinery.host.job.JobResult;
import io.modelrefinery.host.job.JobRunner;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.host.pipeline.JobListener;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.pipeline.StepLimits;
import io.modelrefinery.host.pipeline.TransformCatalog;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.host.testing.TestTransforms;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the refinery writes matches the published JSON Schemas in {@code docs/schemas}: reports with
 * evaluations and gates, {@code auto} candidates, and failures carrying a rejected result's report.
 */
class EventSchemasTest {
    private static final String BASE = "https://modelrefinery.io/schemas/";
    @TempDir
    static Path dir;
    private static JsonSchemaFactory schemas;
    private static Path model;
    private static Path evaluation;

    @BeforeAll
    static void load() throws IOException {
        Map<String, String> byId = new HashMap<>();
        try (Stream<Path> files = Files.list(TestModels.root().resolve("docs/schemas"))) {
            for (Path file : files.toList()) {
                String text = Files.readString(file);
                byId.put(EventJson.parse(text.getBytes(), file.toString()).get("$id").asText(), text);
            }
        }
        schemas = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012,
                builder -> builder.schemaLoaders(loaders -> loaders.schemas(byId)));
        model = dir.resolve("seed_cnn_binary.onnx");
        TestModels.sampleCnn().save(model);
        Random random = new Random(5);
        long[] labels = new long[50];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = random.nextInt(2);
        }
        Map<String, Tensor> arrays = new LinkedHashMap<>();
        arrays.put("input", TestModels.randomImages(4, 50, 28, 28));
        arrays.put("labels", Tensor.ofLongs(new long[] {50}, labels));
        evaluation = dir.resolve("eval.npz");
        Datasets.writeNpz(evaluation, arrays);
    }

    private static Set<ValidationMessage> violations(String schema, Object value) {
        return schemas.getSchema(SchemaLocation.of(BASE + schema)).validate(EventJson.tree(value));
    }

    private static final ModelTransform KEEP = TestTransforms.of(TestTransforms.descriptor("keep", TransformKind.OPTIMIZER)
            .build(), (c, input, p) -> TransformResult.of(input).withMetric("kept", 1).withNote("kept as it was"));

    private static JobResult run(String pipeline, String... gates) throws Exception {
        JobRequest request = new JobRequest("job-0123456789abcdef", new ModelRef("seed", "1"), model.toUri().toString(),
                model, null, PipelineSpec.parse(pipeline), null, evaluation, null,
                QualityGates.parseAssignments(List.of(gates), "--gate"));
        return new JobRunner(TransformCatalog.of(KEEP), new OrtRuntime().service(Device.CPU, dir.resolve("ort")),
                dir.resolve("scratch"), new JobRunner.Settings(1, new Evaluator.Settings(16, 0, 5, 1), StepLimits.none(), 0, null))
                .run(request, JobListener.none(), Cancellation.never());
    }

    private static JobReport report(JobResult result, boolean stored) throws IOException {
        Path file = dir.resolve("out.onnx");
        result.output().save(file);
        var measured = ArtifactMeasurer.measure(file, result.output(), result.zipName());
        return result.report(stored ? measured : measured.withUri(null), List.of("auto chose cpu"));
    }

    @Test
    void aReportWithItsEvaluationAndGatesMatchesTheOptimizedSchema() throws Exception {
        JobReport report = report(run("keep", "max-accuracy-drop=0.01", "min-sqnr-db=20"), true);

        assertEquals(Set.of(), violations("model.optimized.json", report));
        assertEquals(3, report.evaluation().gates().size(), "the two set and the default latency gate");
    }

    @Test
    void autoCandidatesMatchTheOptimizedSchema() throws Exception {
        RecipeSearch search = new RecipeSearch(List.of("keep", "absent"), TransformCatalog.of(KEEP),
                new OrtRuntime().service(Device.CPU, dir.resolve("ort")), dir.resolve("auto"), 1,
                new Evaluator.Settings(16, 0, 5, 1), StepLimits.none(), "job-0123456789abcdef", Cancellation.never());
        RecipeSearch.Outcome outcome = search.search(ModelArtifact.onnx(TestModels.sampleCnn()), ModelFormat.ONNX,
                new JobData(null, Datasets.open(evaluation, "input"), null),
                QualityGates.parseAssignments(List.of("max-accuracy-drop=0.01"), "auto"), AutoSettings.defaults(),
                "seed_cnn_binary.onnx", JobListener.none());
        ArtifactSummary input = ArtifactMeasurer.measure(model, TestModels.sampleCnn(), "seed_cnn_binary.onnx");
        JobReport report = new JobReport("job-0123456789abcdef", new ModelRef("seed", "1"), "auto", input, input,
                outcome.result().steps(), outcome.evaluation(), outcome.candidates(), outcome.notes(), null,
                outcome.search());

        assertEquals(List.of("chosen", "skipped"), report.candidates().stream().map(c -> c.outcome()).toList());
        assertEquals(1, report.search().timed());
        assertEquals(Set.of(), violations("model.optimized.json", report));
        assertEquals(Set.of(), violations("model.optimized.json", report.withRegistered(
                new io.modelrefinery.api.event.RegisteredVersion("mlflow", "seed", "2", "models:/seed/2"))));
    }

    @Test
    void aRejectedResultsFailureMatchesTheFailedSchema() throws Exception {
        GateFailedException rejected = org.junit.jupiter.api.Assertions.assertThrows(GateFailedException.class,
                () -> run("keep", "min-sqnr-db=301"));
        ModelFailed failed = new ModelFailed("job-0123456789abcdef", new ModelRef("seed", "1"), "gate",
                rejected.getMessage(), false, report(rejected.result(), false));

        assertEquals(Set.of(), violations("model.failed.json", failed));
        assertEquals(Set.of(), violations("model.failed.json", new ModelFailed(null, null, "parse", "not JSON", false)));
        ModelRegistered registered = new ModelRegistered("seed", "1", model.toUri().toString(), "onnx", "auto", null,
                evaluation.toUri().toString(), null, null, Map.of());
        assertEquals(Set.of(), violations("model.registered.json", registered));
    }

    @Test
    void theSchemasRefuseWhatBreaksTheContract() throws Exception {
        JsonNode report = EventJson.tree(report(run("keep", "max-accuracy-drop=0.01"), true));
        ((ObjectNode) report).remove("jobId");
        ((ObjectNode) report.at("/evaluation/gates/0")).put("gate", "max-size");

        Set<ValidationMessage> problems = schemas.getSchema(SchemaLocation.of(BASE + "model.optimized.json"))
                .validate(report);

        assertFalse(problems.isEmpty());
        assertTrue(problems.stream().anyMatch(p -> p.getMessage().contains("jobId")), problems.toString());
        assertTrue(problems.stream().anyMatch(p -> p.getMessage().contains("gate")), problems.toString());
    }
}
