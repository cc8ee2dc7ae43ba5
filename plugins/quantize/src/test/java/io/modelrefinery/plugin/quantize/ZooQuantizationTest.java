package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.infer.GraphOptimizationLevel;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.testkit.HarnessResult;
import io.modelrefinery.testkit.PluginHarness;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Both quantizers on files PyTorch's exporter wrote (samples/zoo): fixed batches of 1 and symbolic batches,
 * Identity-fed shared biases, Constant nodes. Static int8 on the CNNs runs on ONNX Runtime's integer kernels
 * throughout; dynamic int8 on the transformers and the LSTM stores every weight 8-bit; both stay close to
 * float32 (SQNR of the outputs on held-out inputs).
 *
 * <p>The MobileNet- and EfficientNet-class fixtures have random weights, and such networks amplify any
 * perturbation layer after layer: rounding their weights alone to 8 bits, per channel, with activations in
 * float, already costs 6 to 20 dB of SQNR (docs/benchmarks.md), and rounding the activations too doubles the
 * noise sources. Their bound is the SQNR weight-only rounding reaches on the same network less 12 dB: far
 * below 25 dB, but a broken calibration (clipped ranges, a wrong scale) lands well under it.
 */
class ZooQuantizationTest {
    private static final Logger LOG = LoggerFactory.getLogger(ZooQuantizationTest.class);

    @TempDir
    static Path dir;
    private static InferenceService inference;

    @BeforeAll
    static void runtime() {
        inference = PluginHarness.inference(dir.resolve("ort"));
    }

    private static List<String> ops(OnnxModel model) {
        return model.graph().getNodeList().stream().map(NodeProto::getOpType).toList();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
            // file | minimal SQNR in dB (NaN: weight-only rounding's SQNR less 12 dB)
            "resnet18-op13-fixed.onnx, 25",
            "resnet18-op17-dynamic.onnx, 25",
            "regnet_y_400mf-op17-dynamic.onnx, NaN",
            "resnet50-op17-dynamic.onnx, NaN",
            "mobilenet_v2-op13-fixed.onnx, NaN",
            "mobilenet_v2-op17-dynamic.onnx, NaN",
            "mobilenet_v3_small-op17-dynamic.onnx, NaN",
            "efficientnet_b0-op17-dynamic.onnx, NaN",
    })
    void staticInt8OnTorchCnnsRunsOnIntegerKernels(String file, double minimalSqnr) throws Exception {
        OnnxModel model = ZooModels.load(file);
        Dataset calibration = ZooModels.dataset(dir, "calibration", ZooModels.samples(inference, model, 24, 1));
        Dataset eval = ZooModels.dataset(dir, "eval", ZooModels.samples(inference, model, 8, 2));

        HarnessResult result = PluginHarness.of(new QuantizeStaticTransform()).data(DataRole.CALIBRATION, calibration)
                .run("quantize-static", model, dir);
        OnnxModel quantized = result.output().onnxModel();

        assertEquals(24.0, result.steps().get(0).metrics().get("calibration-samples"), "every sample, batch as the model takes");
        long convs = ops(model).stream().filter("Conv"::equals).count();
        List<String> fused = ops(inference.optimize(quantized, GraphOptimizationLevel.ALL));
        assertEquals(convs, fused.stream().filter("QLinearConv"::equals).count(), "every convolution integer: " + fused);
        assertFalse(fused.contains("Conv") || fused.contains("FusedConv"), fused.toString());
        double sqnr = ZooModels.sqnr(inference, model, quantized, eval);
        double bound = minimalSqnr;
        if (Double.isNaN(bound)) {
            OnnxModel weightsOnly = PluginHarness.of(new QuantizeDynamicTransform())
                    .run("quantize-dynamic(conv=weight-only,per-channel=true,op-types=[Conv,Gemm,MatMul])", model, dir)
                    .output().onnxModel();
            bound = ZooModels.sqnr(inference, model, weightsOnly, eval) - 12;
        }
        LOG.info("{}: quantize-static SQNR {} dB (bound {} dB), notes {}", file, String.format("%.1f", sqnr),
                String.format("%.1f", bound), result.steps().get(0).notes());
        assertTrue(sqnr >= bound, file + ": SQNR " + sqnr + " dB, below " + bound);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"bert-op13-fixed.onnx", "bert-op17-dynamic.onnx", "gpt2-op17-dynamic.onnx", "lstm-op13-fixed.onnx",
            "lstm-op17-dynamic.onnx"})
    void dynamicInt8OnTorchSequenceModelsStoresEveryWeight8Bit(String file) throws Exception {
        OnnxModel model = ZooModels.load(file);
        Dataset eval = ZooModels.dataset(dir, "eval", ZooModels.samples(inference, model, 8, 2));

        HarnessResult result = PluginHarness.of(new QuantizeDynamicTransform()).run("quantize-dynamic", model, dir);
        OnnxModel quantized = result.output().onnxModel();

        List<String> fused = ops(inference.optimize(quantized, GraphOptimizationLevel.ALL));
        if (file.startsWith("lstm")) {
            assertEquals(2, fused.stream().filter("DynamicQuantizeLSTM"::equals).count(), fused.toString());
        } else {
            assertTrue(fused.contains("DynamicQuantizeMatMul"), fused.toString());
        }
        double ratio = (double) quantized.tensorBytes() / model.tensorBytes();
        assertTrue(ratio < 0.4, file + ": weights and embeddings 8-bit, " + ratio + " of the float bytes");
        double sqnr = ZooModels.sqnr(inference, model, quantized, eval);
        LOG.info("{}: quantize-dynamic SQNR {} dB, {} of the bytes", file, String.format("%.1f", sqnr),
                String.format("%.2f", ratio));
        assertTrue(sqnr >= 25, file + ": SQNR " + sqnr + " dB");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"gru-op17-dynamic.onnx"})
    void dynamicQuantizationSaysWhatItLeftFloat(String file) throws Exception {
        HarnessResult result = PluginHarness.of(new QuantizeDynamicTransform()).run("quantize-dynamic", ZooModels.load(file), dir);

        List<String> notes = result.steps().get(0).notes();
        assertTrue(notes.stream().anyMatch(n -> n.startsWith("left float: ") && n.contains("GRU node")
                && n.contains("no integer GRU kernel")), notes.toString());
        assertTrue(result.steps().get(0).metrics().get("quantized-nodes") >= 2, "the embedding and the classifier");
    }

    /** Every committed export through both quantizers: a model ONNX Runtime runs with a deployer's options. */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"bert-op13-fixed.onnx", "bert-op17-dynamic.onnx", "gpt2-op17-dynamic.onnx", "gru-op17-dynamic.onnx",
            "lstm-op13-fixed.onnx", "vit-op13-fixed.onnx", "vit-op17-dynamic.onnx", "mobilenet_v2-op13-fixed.onnx"})
    void everyExportComesOutRunnable(String file) throws Exception {
        OnnxModel model = ZooModels.load(file);
        Dataset calibration = ZooModels.dataset(dir, "calibration", ZooModels.samples(inference, model, 8, 1));
        Dataset eval = ZooModels.dataset(dir, "eval", ZooModels.samples(inference, model, 4, 2));
        for (String pipeline : List.of("quantize-static", "quantize-dynamic", "quantize-static(method=entropy)")) {
            OnnxModel quantized = PluginHarness.of(new QuantizeStaticTransform(), new QuantizeDynamicTransform())
                    .data(DataRole.CALIBRATION, calibration).run(pipeline, model, dir).output().onnxModel();
            double sqnr = ZooModels.sqnr(inference, model, quantized, eval);
            assertFalse(Double.isNaN(sqnr), file + " " + pipeline + ": outputs are numbers");
        }
    }
}
