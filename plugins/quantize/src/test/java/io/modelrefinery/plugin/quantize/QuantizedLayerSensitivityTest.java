package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.GraphOptimizationLevel;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.LayerSensitivity;
import io.modelrefinery.testdata.FashionMnist;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.HarnessResult;
import io.modelrefinery.testkit.PluginHarness;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Per-layer sensitivity in the static and dynamic quantization reports, on the sample model: each quantized
 * layer's own output SQNR, checked against the same figure computed here by hand, against 7-bit weights
 * (several dB worse) and for a layer left float (not reported).
 */
class QuantizedLayerSensitivityTest {
    private static final List<String> LAYERS = List.of("/c1/Conv", "/c2/Conv", "/fc/Gemm");
    @TempDir
    static Path dir;
    private static Dataset calibration;
    private static Dataset evaluation;
    private static FashionMnist.Samples test;
    private static InferenceService inference;

    @BeforeAll
    static void data() {
        FashionMnist.assumeAvailable();
        Path cal = FashionMnist.binary(FashionMnist.Split.TRAIN, 200).writeNpz(dir.resolve("calibration.npz"));
        calibration = Datasets.open(cal, "input");
        // one batch of the sensitivity pass: run-time activation scales then cover the same samples here
        test = FashionMnist.binary(FashionMnist.Split.TEST, 32);
        Path eval = test.writeNpz(dir.resolve("eval.npz"));
        evaluation = Datasets.open(eval, "input");
        inference = PluginHarness.inference(dir.resolve("ort"));
    }

    private static HarnessResult run(String pipeline, DataRole role, Dataset data) {
        return PluginHarness.of(new QuantizeDynamicTransform(), new QuantizeStaticTransform()).data(role, data)
                .run(pipeline, ConformanceModels.sampleCnn(), dir);
    }

    @Test
    void staticQuantizationReportsEachLayerAndSevenBitWeightsCostSeveralDecibels() {
        var eight = run("quantize-static", DataRole.CALIBRATION, calibration).steps().get(0);
        var seven = run("quantize-static(reduce-range=true)", DataRole.CALIBRATION, calibration).steps().get(0);

        for (String layer : LAYERS) {
            double db = eight.metrics().get("layer-sqnr-db:" + layer);
            assertTrue(db > 25 && db < 70, layer + ": " + db + " dB");
            double fewer = seven.metrics().get("layer-sqnr-db:" + layer);
            assertTrue(db - fewer > 3 && db - fewer < 12, layer + ": 8-bit " + db + " dB, 7-bit " + fewer + " dB");
        }
        double worst = LAYERS.stream().mapToDouble(l -> eight.metrics().get("layer-sqnr-db:" + l)).min().orElseThrow();
        assertEquals(worst, eight.metrics().get("worst-layer-sqnr-db"), 1e-12);
        String note = eight.notes().stream().filter(n -> n.startsWith("least accurate quantized layers")).findFirst()
                .orElseThrow(() -> new AssertionError(eight.notes().toString()));
        assertTrue(note.startsWith("least accurate quantized layers, own output SQNR on 32 calibration samples: "), note);
        assertTrue(LAYERS.stream().allMatch(note::contains), note);
    }

    @Test
    void aLayerLeftFloatIsNotReported() {
        Map<String, Double> metrics = run("quantize-static(exclude-nodes=[/fc/Gemm])", DataRole.CALIBRATION, calibration).steps().get(0).metrics();

        assertFalse(metrics.containsKey("layer-sqnr-db:/fc/Gemm"), metrics.toString());
        assertTrue(metrics.containsKey("layer-sqnr-db:/c2/Conv"), metrics.toString());
    }

    /** The dense layer of the dynamically quantized model against W x + b computed here on the same inputs. */
    @Test
    void dynamicQuantizationsFigureIsTheLayersOwnOutputSqnrOnTheEvaluationSamples() {
        HarnessResult result = run("quantize-dynamic", DataRole.EVALUATION, evaluation);
        OnnxModel quantized = result.model();
        OnnxModel original = ConformanceModels.sampleCnn();
        float[] w = original.initializer("fc.weight").orElseThrow().toFloatArray();
        float[] b = original.initializer("fc.bias").orElseThrow().toFloatArray();
        int outputs = b.length;
        int inputs = w.length / outputs;
        OnnxModel probed = quantized.withGraph(GraphEditor.of(quantized.graph()).addOutput("/Flatten_output_0")
                .addOutput("/fc/Gemm_output_0").build());
        double signal = 0;
        double noise = 0;
        try (InferenceSession session = inference.open(probed,
                SessionOptions.defaults().withOptimization(GraphOptimizationLevel.DISABLED))) {
            Map<String, Tensor> out = session.run(Map.of(session.inputs().get(0).name(), test.images()),
                    List.of("/Flatten_output_0", "/fc/Gemm_output_0"));
            float[] x = out.get("/Flatten_output_0").toFloatArray();
            float[] y = out.get("/fc/Gemm_output_0").toFloatArray();
            for (int s = 0; s < test.size(); s++) {
                for (int o = 0; o < outputs; o++) {
                    double ref = b[o];
                    for (int i = 0; i < inputs; i++) {
                        ref += (double) w[o * inputs + i] * x[s * inputs + i];
                    }
                    double e = ref - y[s * outputs + o];
                    signal += ref * ref;
                    noise += e * e;
                }
            }
        }
        Map<String, Double> metrics = result.steps().get(0).metrics();
        assertEquals(10 * Math.log10(signal / noise), metrics.get("layer-sqnr-db:/fc/Gemm"), 1e-3, metrics.toString());
        assertTrue(result.steps().get(0).notes().stream().anyMatch(n -> n.contains("on 32 evaluation samples")),
                result.steps().get(0).notes().toString());
        assertTrue(Arrays.stream(new String[]{"/c1/Conv", "/c2/Conv"})
                .allMatch(l -> metrics.get("layer-sqnr-db:" + l) > 25), metrics.toString());
    }
    /**
     * The sums the probed graph computes ({@code Meter.summing}) give the figures of the same sums taken here
     * element by element, over several batches.
     */
    @Test
    void sumsTakenInTheGraphMatchSumsTakenElementByElement() {
        OnnxModel quantized = ConformanceModels.sampleCnn();
        // any two float values of equal shape test the arithmetic: here a Relu's input and output
        List<LayerSensitivity.Probe> probes = List.of(
                new LayerSensitivity.Probe("relu", "/Relu_output_0", "/c1/Conv_output_0"),
                new LayerSensitivity.Probe("same", "/c1/Conv_output_0", "/c1/Conv_output_0"));
        LayerSensitivity.Meter byElement = new LayerSensitivity.Meter(probes);
        LayerSensitivity.Meter inGraph = new LayerSensitivity.Meter(probes);
        OnnxModel summing = inGraph.summing(quantized);
        OnnxModel plain = quantized.withGraph(GraphEditor.of(quantized.graph()).addOutput("/Relu_output_0")
                .addOutput("/c1/Conv_output_0").build());
        SessionOptions options = SessionOptions.defaults().withOptimization(GraphOptimizationLevel.DISABLED);
        try (InferenceSession a = inference.open(plain, options); InferenceSession b = inference.open(summing, options)) {
            Datasets.forEachModelBatch(calibration, a.inputs(), 64, 0, () -> { }, (batch, offset, total) -> {
                Map<String, Tensor> feeds = Map.of(a.inputs().get(0).name(), batch.get(a.inputs().get(0).name()));
                byElement.add(a.run(feeds, byElement.values()));
                inGraph.add(b.run(feeds, inGraph.values()));
            });
        }
        List<LayerSensitivity.Layer> expected = byElement.layers();
        List<LayerSensitivity.Layer> actual = inGraph.layers();
        assertTrue(expected.get(0).sqnrDb() > 0 && expected.get(0).sqnrDb() < 40, expected.toString());
        assertEquals(expected.get(0).sqnrDb(), actual.get(0).sqnrDb(), 1e-3, actual.toString());
        assertEquals(300, actual.get(1).sqnrDb(), 1e-9, "a value against itself is identical: " + actual);
    }
}
