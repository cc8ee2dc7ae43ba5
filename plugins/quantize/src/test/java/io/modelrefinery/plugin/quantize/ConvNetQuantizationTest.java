package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.testkit.ConvNets;
import io.modelrefinery.testkit.PluginHarness;
import io.modelrefinery.testkit.SampleData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A MobileNet-shaped network (depthwise convolutions, ReLU6 as Clip, residual adds, global pooling,
 * softmax) quantized every way: the result runs in ONNX Runtime and stays close to the float model.
 */
class ConvNetQuantizationTest {
    private static final Logger LOG = LoggerFactory.getLogger(ConvNetQuantizationTest.class);

    @TempDir
    static Path dir;
    private static OnnxModel model;
    private static Dataset calibration;
    private static Tensor probe;
    private static InferenceService inference;

    @BeforeAll
    static void prepare() throws Exception {
        model = ConvNets.smallMobileNet(7);
        Path file = dir.resolve("calibration.npz");
        Datasets.writeNpz(file, Map.of("input", SampleData.randomImages(1, 64, 3, 32, 32)));
        calibration = Datasets.open(file, "input");
        probe = SampleData.randomImages(2, 16, 3, 32, 32);
        inference = PluginHarness.inference(dir.resolve("ort"));
    }

    /** Signal-to-quantization-noise ratio of the outputs, in dB. */
    private static double sqnr(OnnxModel reference, OnnxModel quantized) {
        float[] expected;
        float[] actual;
        try (InferenceSession a = inference.open(reference); InferenceSession b = inference.open(quantized)) {
            expected = a.run(Map.of("input", probe)).get("probabilities").toFloatArray();
            actual = b.run(Map.of("input", probe)).get("probabilities").toFloatArray();
        }
        double signal = 0;
        double noise = 0;
        for (int i = 0; i < expected.length; i++) {
            signal += expected[i] * (double) expected[i];
            noise += (expected[i] - actual[i]) * (double) (expected[i] - actual[i]);
        }
        return 10 * Math.log10(signal / Math.max(noise, 1e-30));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"quantize-dynamic", "quantize-dynamic(per-channel=true)", "quantize-dynamic(conv=integer)",
            "quantize-static", "quantize-static(method=entropy)", "quantize-static(method=percentile,percentile=99.99)",
            "quantize-static(activation-type=int8)", "quantize-static(per-channel=false)"})
    void quantizedMobileNetRunsAndStaysClose(String pipeline) {
        OnnxModel quantized = PluginHarness.of(new QuantizeDynamicTransform(), new QuantizeStaticTransform())
                .data(DataRole.CALIBRATION, calibration).run(pipeline, model, dir).output().onnxModel();

        double sqnr = sqnr(model, quantized);
        LOG.info("{}: output SQNR {} dB", pipeline, String.format("%.1f", sqnr));
        assertTrue(sqnr > 15, pipeline + ": SQNR " + sqnr + " dB");
        if (pipeline.startsWith("quantize-static")) {
            long adds = quantized.graph().getNodeList().stream().map(NodeProto::getOpType)
                    .filter(op -> op.equals("DequantizeLinear")).count();
            assertTrue(adds > 40, "weights and activations quantized: " + adds + " DequantizeLinear nodes");
        }
    }
}
