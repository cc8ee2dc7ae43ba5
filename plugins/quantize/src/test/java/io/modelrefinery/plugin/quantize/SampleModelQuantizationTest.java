package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.GraphOptimizationLevel;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.testdata.FashionMnist;
import io.modelrefinery.testkit.ArtifactMeasures;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.HarnessResult;
import io.modelrefinery.testkit.PluginHarness;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The sample model quantized and scored on its 2,000 Fashion-MNIST test images, against ONNX Runtime's
 * Python tool on the same model and calibration data (the first 200 training images of the two classes).
 */
class SampleModelQuantizationTest {
    @TempDir
    static Path dir;
    private static FashionMnist.Samples test;
    private static Dataset calibration;
    private static InferenceService inference;

    @BeforeAll
    static void data() {
        FashionMnist.assumeAvailable();
        test = FashionMnist.binary(FashionMnist.Split.TEST, Integer.MAX_VALUE);
        Path file = FashionMnist.binary(FashionMnist.Split.TRAIN, 200).writeNpz(dir.resolve("calibration.npz"));
        calibration = Datasets.open(file, "input");
        inference = PluginHarness.inference(dir.resolve("ort"));
    }

    private static OnnxModel quantize(String pipeline) throws Exception {
        HarnessResult result = PluginHarness.of(new QuantizeDynamicTransform(), new QuantizeStaticTransform())
                .data(DataRole.CALIBRATION, calibration).run(pipeline, ConformanceModels.sampleCnn(), dir);
        return result.output().onnxModel();
    }

    private static long zippedBytes(OnnxModel model) throws Exception {
        return ArtifactMeasures.measure(model, dir.resolve("seed_cnn_binary.onnx"), "seed_cnn_binary.onnx").gzipBytes();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            // pipeline | ONNX Runtime's accuracy (%) | ONNX Runtime's zipped bytes
            "quantize-dynamic | 95.15 | 4803",
            "quantize-static | 95.10 | 5471",
            "quantize-static(method=entropy) | 95.10 | 5473",
            "quantize-static(method=percentile) | 95.05 | 5481",
    })
    void matchesOnnxRuntimesToolOnAccuracyAndSize(String pipeline, double referenceAccuracy, long referenceZip)
            throws Exception {
        OnnxModel quantized = quantize(pipeline);

        double accuracy = test.percentCorrect(inference, quantized);
        long zip = zippedBytes(quantized);
        assertTrue(accuracy >= referenceAccuracy - 0.1, pipeline + ": accuracy " + accuracy + "% vs " + referenceAccuracy);
        assertTrue(zip <= referenceZip * 1.1, pipeline + ": " + zip + " zipped bytes vs " + referenceZip);
    }

    @Test
    void staticQuantizationHasTheShapeOnnxRuntimeFusesIntoIntegerKernels() throws Exception {
        OnnxModel quantized = quantize("quantize-static");
        GraphIndex index = GraphIndex.of(quantized.graph());

        assertTrue(quantized.graph().getNodeList().stream().noneMatch(n -> n.getOpType().equals("Relu")),
                "ReLU folded into the convolutions' output quantization");
        TensorProto conv2 = index.initializer("c2.weight_quantized").orElseThrow();
        assertEquals(DataType.INT8.code(), conv2.getDataType());
        assertEquals(24, index.initializer("c2.weight_scale").orElseThrow().getDims(0), "per output channel");
        assertEquals(DataType.INT32.code(), index.initializer("c2.bias_quantized").orElseThrow().getDataType());
        assertEquals(DataType.FLOAT, io.modelrefinery.api.onnx.OnnxHelper.elementType(quantized.graph().getOutput(0))
                .orElseThrow(), "the interface stays float");

        OnnxModel fused = inference.optimize(quantized, GraphOptimizationLevel.ALL);
        List<String> ops = fused.graph().getNodeList().stream().map(NodeProto::getOpType).toList();
        assertTrue(ops.stream().anyMatch(op -> op.equals("QLinearConv")), "ONNX Runtime fused integer convolutions: " + ops);
        assertTrue(ops.stream().noneMatch(op -> op.equals("Conv")), ops.toString());
    }

    @Test
    void dynamicQuantizationUsesFastKernelsByDefault() throws Exception {
        HarnessResult result = PluginHarness.of(new QuantizeDynamicTransform()).run("quantize-dynamic(conv=skip)",
                ConformanceModels.sampleCnn(), dir);
        OnnxModel quantized = result.output().onnxModel();
        List<String> ops = quantized.graph().getNodeList().stream().map(NodeProto::getOpType).toList();

        assertTrue(ops.contains("MatMulInteger"), ops.toString());
        assertTrue(ops.contains("DynamicQuantizeLinear"), ops.toString());
        assertTrue(ops.contains("Conv") && !ops.contains("ConvInteger") && !ops.contains("DequantizeLinear"),
                "convolutions left float with conv=skip: " + ops);
        assertTrue(result.steps().get(0).notes().stream().anyMatch(n -> n.startsWith("left float: ")
                && n.contains("Conv") && n.contains("conv=skip")), result.steps().get(0).notes().toString());
        OnnxModel fused = inference.optimize(quantized, GraphOptimizationLevel.EXTENDED);
        assertTrue(fused.graph().getNodeList().stream().anyMatch(n -> n.getOpType().equals("DynamicQuantizeMatMul")),
                "ONNX Runtime fused the integer MatMul");

        List<String> weightOnly = quantize("quantize-dynamic").graph().getNodeList().stream()
                .map(NodeProto::getOpType).toList();
        assertTrue(weightOnly.contains("Conv") && weightOnly.contains("DequantizeLinear"), weightOnly.toString());
    }
}
