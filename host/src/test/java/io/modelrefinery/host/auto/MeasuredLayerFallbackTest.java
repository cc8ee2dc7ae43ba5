package io.modelrefinery.host.auto;

import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.event.Candidate;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.LayerSensitivity;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.ParamRole;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.TransformResult;
import io.modelrefinery.host.eval.Evaluator;
import io.modelrefinery.host.eval.QualityGates;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.host.pipeline.JobListener;
import io.modelrefinery.host.pipeline.StepLimits;
import io.modelrefinery.host.pipeline.TransformCatalog;
import io.modelrefinery.testdata.FashionMnist;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.host.testing.TestTransforms;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code auto}'s per-layer fallback driven by the sensitivity a step reports ({@link LayerSensitivity}'s
 * metrics) instead of by trial: the layers are left in float in the order the report ranks them, and no
 * recipe runs only to measure a layer. The stand-in quantizer wrecks the dense layer of the sample model
 * unless it is excluded, and reports the per-layer SQNRs it is given.
 */
class MeasuredLayerFallbackTest {
    @TempDir
    static Path dir;
    private static JobData data;

    static final ParamSpec<List<String>> SKIP = ParamSpec.list("skip").defaultValue(List.of())
            .role(ParamRole.NODE_EXCLUSION).doc("Nodes left float.").build();

    @BeforeAll
    static void data() throws Exception {
        FashionMnist.assumeAvailable();
        Path eval = FashionMnist.binary(FashionMnist.Split.TEST, 600).writeNpz(dir.resolve("eval.npz"));
        data = new JobData(null, Datasets.open(eval, "input"), null);
    }

    /** A quantizer stand-in that reports {@code reported} as its layers' own output SQNR, and counts its runs. */
    private static ModelTransform quantizer(Map<String, Double> reported, AtomicInteger runs) {
        return TestTransforms.of(TestTransforms.compressor("vendor-int8").param(SKIP).layerFallback().build(),
                (c, input, p) -> {
                    runs.incrementAndGet();
                    OnnxModel out = TestModels.denseLayerRuinedUnless(p.get(SKIP), input.onnxModel());
                    List<LayerSensitivity.Layer> layers = reported.entrySet().stream()
                            .filter(e -> !p.get(SKIP).contains(e.getKey()))
                            .map(e -> new LayerSensitivity.Layer(e.getKey(), e.getValue())).toList();
                    return LayerSensitivity.report(TransformResult.of(out), layers, "quantized", 600, "evaluation");
                });
    }

    private static List<Candidate> search(ModelTransform transform) throws Exception {
        RecipeSearch search = new RecipeSearch(List.of("vendor-int8"), TransformCatalog.of(transform),
                new OrtRuntime().service(Device.CPU, dir.resolve("ort")), dir.resolve("auto-" + System.nanoTime()), 1,
                new Evaluator.Settings(64, 0, 10, 2), StepLimits.none(), "job-test", Cancellation.never());
        return search.search(ModelArtifact.onnx(TestModels.sampleCnn()), ModelFormat.ONNX, data,
                QualityGates.parseAssignments(List.of("max-accuracy-drop=0.005"), "auto(...)"), AutoSettings.defaults(),
                "seed_cnn_binary.onnx", JobListener.none()).candidates();
    }

    @Test
    void theLeastAccurateLayerTheStepReportedIsLeftInFloatFirstWithoutTrialRuns() throws Exception {
        AtomicInteger runs = new AtomicInteger();
        List<Candidate> candidates = search(quantizer(Map.of("/c1/Conv", 41.0, "/c2/Conv", 35.0, "/fc/Gemm", -3.0), runs));

        assertEquals(List.of("vendor-int8", "vendor-int8(skip=[/fc/Gemm])"),
                candidates.stream().map(Candidate::pipeline).toList());
        assertEquals("rejected", candidates.get(0).outcome());
        assertEquals("chosen", candidates.get(1).outcome());
        assertTrue(candidates.get(1).reason().contains("the 1 most sensitive of 3 layers left in float"),
                candidates.get(1).reason());
        assertEquals(2, runs.get(), "the failed recipe and one fallback: no run only to measure a layer");
    }

    @Test
    void theReportedOrderIsFollowedEvenWhenItsFirstLayerIsNotEnough() throws Exception {
        AtomicInteger runs = new AtomicInteger();
        List<Candidate> candidates = search(quantizer(Map.of("/c1/Conv", 41.0, "/c2/Conv", 12.0, "/fc/Gemm", 20.0), runs));

        assertEquals(List.of("vendor-int8", "vendor-int8(skip=[/c2/Conv])", "vendor-int8(skip=[/c2/Conv,/fc/Gemm])"),
                candidates.stream().map(Candidate::pipeline).toList());
        assertEquals("rejected", candidates.get(1).outcome());
        assertEquals("chosen", candidates.get(2).outcome());
        assertEquals(3, runs.get());
    }

    @Test
    void withoutReportedSensitivityTheLayersAreMeasuredByTrial() throws Exception {
        AtomicInteger runs = new AtomicInteger();
        List<Candidate> candidates = search(quantizer(Map.of(), runs));

        assertEquals("vendor-int8(skip=[/fc/Gemm])", candidates.get(1).pipeline());
        assertEquals("chosen", candidates.get(1).outcome());
        assertEquals(1 + 3, runs.get(), "the failed recipe and one trial per weighted layer");
    }
}
