package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.GraphOptimizationLevel;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.testkit.PluginHarness;
import io.modelrefinery.testkit.SampleData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every static rule of {@link QuantOps}, one operator between two convolutions: after quantize-static and
 * ONNX Runtime's own optimizations the whole graph runs on 8-bit data (one QuantizeLinear at the input, one
 * DequantizeLinear at the output, the operator as its integer kernel or on the 8-bit data directly), and the
 * outputs stay close to float.
 */
class QdqRuleTest {
    @TempDir
    static Path dir;
    private static InferenceService inference;
    private static Dataset calibration;
    private static Dataset eval;

    @BeforeAll
    static void prepare() throws Exception {
        inference = PluginHarness.inference(dir.resolve("ort"));
        Path file = dir.resolve("calibration.npz");
        Datasets.writeNpz(file, Map.of("x", SampleData.randomImages(1, 32, 4, 8, 8)));
        calibration = Datasets.open(file, "x");
        Path evalFile = dir.resolve("eval.npz");
        Datasets.writeNpz(evalFile, Map.of("x", SampleData.randomImages(2, 8, 4, 8, 8)));
        eval = Datasets.open(evalFile, "x");
    }

    /**
     * One rule's case: the operator under test, the nodes between the first convolution's output {@code a}
     * (and a second one's, {@code b}) and the value {@code z} the last convolution reads, and the operator ONNX
     * Runtime runs it as (null: the operator itself, on 8-bit data).
     */
    record Case(String op, String kernel, List<NodeProto> nodes, List<TensorProto> constants, boolean endsInGemm) {
        @Override
        public String toString() {
            return op + (nodes.size() > 1 ? " (" + nodes.stream().map(NodeProto::getOpType).toList() + ")" : "");
        }
    }

    private static NodeProto node(String op, List<String> in, String out, io.modelrefinery.api.onnx.proto.Onnx.AttributeProto... a) {
        return OnnxHelper.node(op, in, List.of(out), a);
    }

    private static TensorProto longs(String name, long... values) {
        return Tensor.ofLongs(new long[] {values.length}, values).toProto(name);
    }

    private static TensorProto floats(String name, long[] shape, float... values) {
        return Tensor.ofFloats(shape, values).toProto(name);
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case("Conv", "QLinearConv", List.of(node("Identity", List.of("a"), "z")), List.of(), false),
                new Case("Relu", null, List.of(node("Relu", List.of("a"), "z")), List.of(), false),
                new Case("Clip", null, List.of(node("Clip", List.of("a", "lo", "hi"), "z")),
                        List.of(floats("lo", new long[0], 0f), floats("hi", new long[0], 0.5f)), false),
                new Case("LeakyRelu", "QLinearLeakyRelu", List.of(node("LeakyRelu", List.of("a"), "z",
                        OnnxHelper.attr("alpha", 0.1f))), List.of(), false),
                new Case("Add", "QLinearAdd", List.of(node("Add", List.of("a", "b"), "z")), List.of(), false),
                new Case("Mul", "QLinearMul", List.of(node("Mul", List.of("a", "b"), "z")), List.of(), false),
                new Case("Mul", "QLinearMul", List.of(node("Mul", List.of("a", "k"), "z")),
                        List.of(floats("k", new long[] {1, 4, 1, 1}, 0.5f, 1f, 2f, -1f)), false),
                new Case("Concat", "QLinearConcat", List.of(node("Concat", List.of("a", "b"), "c",
                        OnnxHelper.attr("axis", 1L)), node("Slice", List.of("c", "s0", "s1", "s2"), "z")),
                        List.of(longs("s0", 0), longs("s1", 4), longs("s2", 1)), false),
                new Case("MaxPool", null, List.of(node("MaxPool", List.of("a"), "z", OnnxHelper.attr("kernel_shape", 2L, 2L),
                        OnnxHelper.attr("strides", 2L, 2L))), List.of(), false),
                new Case("AveragePool", "QLinearAveragePool", List.of(node("AveragePool", List.of("a"), "z",
                        OnnxHelper.attr("kernel_shape", 2L, 2L), OnnxHelper.attr("strides", 2L, 2L))), List.of(), false),
                new Case("GlobalAveragePool", "QLinearGlobalAveragePool", List.of(node("GlobalAveragePool", List.of("a"), "z")),
                        List.of(), false),
                new Case("Reshape", null, List.of(node("Reshape", List.of("a", "shape"), "z")),
                        List.of(longs("shape", 0, 4, 4, 16)), false),
                new Case("Transpose", null, List.of(node("Transpose", List.of("a"), "z", OnnxHelper.attr("perm", 0L, 1L, 3L, 2L))),
                        List.of(), false),
                new Case("Squeeze", null, List.of(node("Unsqueeze", List.of("a", "axes"), "u"),
                        node("Squeeze", List.of("u", "axes"), "z")), List.of(longs("axes", 2)), false),
                new Case("Unsqueeze", null, List.of(node("Unsqueeze", List.of("a", "axes"), "u"),
                        node("Squeeze", List.of("u", "axes"), "z")), List.of(longs("axes", 4)), false),
                new Case("Resize", null, List.of(node("Resize", List.of("a", "", "scales"), "z",
                        OnnxHelper.attr("mode", "nearest"))), List.of(floats("scales", new long[] {4}, 1f, 1f, 2f, 2f)), false),
                new Case("Slice", null, List.of(node("Slice", List.of("a", "s0", "s1", "s2"), "z")),
                        List.of(longs("s0", 1), longs("s1", 7), longs("s2", 2)), false),
                new Case("Expand", null, List.of(node("Slice", List.of("a", "s0", "s1", "s2"), "s"),
                        node("Expand", List.of("s", "shape"), "z")),
                        List.of(longs("s0", 0), longs("s1", 1), longs("s2", 2), longs("shape", 1, 4, 8, 8)), false),
                new Case("Tile", null, List.of(node("Slice", List.of("a", "s0", "s1", "s2"), "s"),
                        node("Tile", List.of("s", "repeats"), "z")),
                        List.of(longs("s0", 0), longs("s1", 4), longs("s2", 2), longs("repeats", 1, 1, 2, 1)), false),
                new Case("Gather", null, List.of(node("Gather", List.of("a", "rows"), "z", OnnxHelper.attr("axis", 2L))),
                        List.of(longs("rows", 7, 6, 5, 4, 3, 2, 1, 0)), false),
                new Case("Softmax", "QLinearSoftmax", List.of(node("Softmax", List.of("a"), "z", OnnxHelper.attr("axis", 1L))),
                        List.of(), false),
                new Case("Sigmoid", "QLinearSigmoid", List.of(node("Sigmoid", List.of("a"), "z")), List.of(), false),
                new Case("HardSigmoid", "QLinearAdd", List.of(node("HardSigmoid", List.of("a"), "z")), List.of(), false),
                new Case("HardSwish", "QLinearMul", List.of(node("HardSwish", List.of("a"), "z")), List.of(), false),
                new Case("Flatten", "QGemm", List.of(node("Flatten", List.of("a"), "z")), List.of(), true),
                new Case("Gemm", "QGemm", List.of(node("Flatten", List.of("a"), "z")), List.of(), true),
                new Case("MatMul", "QLinearMatMul", List.of(node("MatMul", List.of("a", "m"), "z")),
                        List.of(floats("m", new long[] {8, 8}, random(64, 5))), false));
    }

    private static float[] random(int n, long seed) {
        Random random = new Random(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) random.nextGaussian() * 0.3f;
        }
        return out;
    }

    /** x -> Conv -> a (and x -> Conv -> b) -> the case's nodes -> z -> Conv (or Gemm) -> y. */
    private static OnnxModel model(Case c) {
        List<NodeProto> nodes = new ArrayList<>();
        List<TensorProto> init = new ArrayList<>(c.constants());
        init.add(floats("w1", new long[] {4, 4, 3, 3}, random(144, 1)));
        init.add(floats("b1", new long[] {4}, random(4, 2)));
        nodes.add(node("Conv", List.of("x", "w1", "b1"), "a", OnnxHelper.attr("pads", 1L, 1L, 1L, 1L)));
        if (c.nodes().stream().anyMatch(n -> n.getInputList().contains("b"))) {
            init.add(floats("w2", new long[] {4, 4, 3, 3}, random(144, 3)));
            init.add(floats("b2", new long[] {4}, random(4, 4)));
            nodes.add(node("Conv", List.of("x", "w2", "b2"), "b", OnnxHelper.attr("pads", 1L, 1L, 1L, 1L)));
        }
        nodes.addAll(c.nodes());
        if (c.endsInGemm()) {
            init.add(floats("g", new long[] {10, 256}, random(2560, 6)));
            init.add(floats("gb", new long[] {10}, random(10, 7)));
            nodes.add(node("Gemm", List.of("z", "g", "gb"), "y", OnnxHelper.attr("transB", 1L)));
        } else {
            init.add(floats("w3", new long[] {4, 4, 1, 1}, random(16, 8)));
            nodes.add(node("Conv", List.of("z", "w3"), "y"));
        }
        return OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("rule-" + c.op(), nodes,
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, -1, 4, 8, 8)),
                List.of(OnnxHelper.valueInfo("y", DataType.FLOAT)), init), 17));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void eachRuleRunsOnEightBitData(Case c) {
        OnnxModel model = model(c);

        OnnxModel quantized = PluginHarness.of(new QuantizeStaticTransform()).data(DataRole.CALIBRATION, calibration)
                .run("quantize-static", model, dir).output().onnxModel();

        List<String> fused = inference.optimize(quantized, GraphOptimizationLevel.ALL).graph().getNodeList().stream()
                .map(NodeProto::getOpType).toList();
        assertEquals(1, fused.stream().filter("QuantizeLinear"::equals).count(), "only the input is quantized: " + fused);
        assertTrue(fused.stream().filter("DequantizeLinear"::equals).count() <= 1, "8-bit from input to output: " + fused);
        if (c.kernel() != null) {
            assertTrue(fused.contains(c.kernel()), c.op() + " runs as " + c.kernel() + ": " + fused);
        }
        if (c.op().equals("Relu") || c.op().equals("Clip")) {
            assertTrue(!fused.contains(c.op()), c.op() + " folded into the convolution's output range: " + fused);
        }
        double sqnr = ZooModels.sqnr(inference, model, quantized, eval);
        assertTrue(sqnr > 25, c + ": SQNR " + sqnr + " dB");
    }

    @Test
    void everyStaticRuleHasACase() {
        Set<String> covered = new TreeSet<>();
        cases().forEach(c -> covered.add(c.op()));
        assertEquals(new TreeSet<>(QuantOps.STATIC), covered);
    }

    @Test
    void aMulByAPositiveScalarIsDequantizedWithItsScaleInsteadOfRun() {
        Case c = new Case("Mul", null, List.of(node("Relu", List.of("a"), "r"), node("Mul", List.of("r", "k"), "z")),
                List.of(floats("k", new long[0], 0.25f)), false);
        OnnxModel model = model(c);

        OnnxModel quantized = PluginHarness.of(new QuantizeStaticTransform()).data(DataRole.CALIBRATION, calibration)
                .run("quantize-static", model, dir).output().onnxModel();

        List<String> ops = quantized.graph().getNodeList().stream().map(NodeProto::getOpType).toList();
        assertTrue(!ops.contains("Mul") && !ops.contains("Relu"), "the Mul is gone: " + ops);
        List<String> fused = inference.optimize(quantized, GraphOptimizationLevel.ALL).graph().getNodeList().stream()
                .map(NodeProto::getOpType).toList();
        assertEquals(List.of("QuantizeLinear", "QLinearConv", "QLinearConv", "DequantizeLinear"),
                fused.stream().filter(op -> !op.equals("Transpose")).toList());
        double sqnr = ZooModels.sqnr(inference, model, quantized, eval);
        assertTrue(sqnr > 25, "SQNR " + sqnr + " dB");
    }

    @Test
    void batchNormalizationAfterAConvolutionIsFoldedIntoIt() {
        List<TensorProto> init = new ArrayList<>(List.of(floats("w1", new long[] {4, 4, 3, 3}, random(144, 1)),
                floats("gamma", new long[] {4}, 1.5f, 0.5f, 2f, 1f), floats("beta", new long[] {4}, 0.1f, -0.2f, 0f, 0.3f),
                floats("mean", new long[] {4}, 0.2f, -0.1f, 0.05f, 0f), floats("var", new long[] {4}, 0.5f, 2f, 1f, 0.1f),
                floats("w3", new long[] {4, 4, 1, 1}, random(16, 8))));
        OnnxModel model = OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("conv-bn", List.of(
                        node("Conv", List.of("x", "w1"), "a", OnnxHelper.attr("pads", 1L, 1L, 1L, 1L)),
                        node("BatchNormalization", List.of("a", "gamma", "beta", "mean", "var"), "n"),
                        node("Relu", List.of("n"), "z"),
                        node("Conv", List.of("z", "w3"), "y")),
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, -1, 4, 8, 8)),
                List.of(OnnxHelper.valueInfo("y", DataType.FLOAT)), init), 17));

        var result = PluginHarness.of(new QuantizeStaticTransform()).data(DataRole.CALIBRATION, calibration)
                .run("quantize-static", model, dir);
        OnnxModel quantized = result.output().onnxModel();

        assertEquals(1.0, result.steps().get(0).metrics().get("folded-batch-norms"));
        List<String> fused = inference.optimize(quantized, GraphOptimizationLevel.ALL).graph().getNodeList().stream()
                .map(NodeProto::getOpType).toList();
        assertEquals(2, fused.stream().filter("QLinearConv"::equals).count(), "Conv+BatchNormalization+Relu is one: " + fused);
        assertTrue(!fused.contains("BatchNormalization") && !fused.contains("Relu"), fused.toString());
        double sqnr = ZooModels.sqnr(inference, model, quantized, eval);
        assertTrue(sqnr > 25, "SQNR " + sqnr + " dB");
    }
}
