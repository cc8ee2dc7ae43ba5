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
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;
import io.modelrefinery.testkit.HarnessResult;
import io.modelrefinery.testkit.PluginHarness;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every dynamic handler of {@link QuantOps}, one operator with its constant weight: quantize-dynamic replaces
 * it with the integer operators its rewrite names, the float weight is gone, ONNX Runtime fuses what it
 * fuses, and the outputs stay close to float; an operator ONNX Runtime has no integer kernel for stays as
 * it was, and the step's notes say why.
 */
class DynamicRuleTest {
    @TempDir
    static Path dir;
    private static InferenceService inference;

    @BeforeAll
    static void prepare() {
        inference = PluginHarness.inference(dir.resolve("ort"));
    }

    /**
     * One handler's case.
     *
     * @param op the operator under test
     * @param pipeline the step that quantizes it
     * @param model one node of that operator reading input {@code x} and writing {@code y}
     * @param weight the float constant the rewrite stores 8-bit (null: the node stays float)
     * @param written operators the rewrite writes, before ONNX Runtime's optimizations
     * @param fused the operator ONNX Runtime runs after its optimizations (null: no fusion expected)
     */
    record Case(String op, String pipeline, OnnxModel model, String weight, List<String> written, String fused) {
        @Override
        public String toString() {
            return pipeline + " on " + op;
        }
    }

    private static float[] random(int n, long seed) {
        Random random = new Random(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) random.nextGaussian() * 0.3f;
        }
        return out;
    }

    private static TensorProto floats(String name, long[] shape, long seed) {
        int n = (int) java.util.Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        return Tensor.ofFloats(shape, random(n, seed)).toProto(name);
    }

    private static OnnxModel model(String name, NodeProto node, ValueInfoProto input, List<TensorProto> init) {
        return OnnxModel.of(OnnxHelper.model(OnnxHelper.graph(name, List.of(node), List.of(input),
                List.of(OnnxHelper.valueInfo("y", DataType.FLOAT)), init), 17));
    }

    /** x [N, 8] -> op -> y. */
    private static ValueInfoProto rows() {
        return OnnxHelper.valueInfo("x", DataType.FLOAT, -1, 8);
    }

    private static Case recurrent(String op, int gates) {
        // Sequence first (layout 0): x [T, 1, 8], hidden size 4, weights [1, gates * 4, 8] and [1, gates * 4, 4].
        NodeProto node = OnnxHelper.node(op, List.of("x", "w", "r"), List.of("y"), OnnxHelper.attr("hidden_size", 4L));
        return new Case(op, "quantize-dynamic", model(op, node, OnnxHelper.valueInfo("x", DataType.FLOAT, -1, 1, 8),
                List.of(floats("w", new long[] {1, gates * 4, 8}, 1), floats("r", new long[] {1, gates * 4, 4}, 2))),
                op.equals("LSTM") ? "w" : null, op.equals("LSTM") ? List.of("DynamicQuantizeLSTM") : List.of(op),
                op.equals("LSTM") ? "DynamicQuantizeLSTM" : null);
    }

    static Stream<Case> cases() {
        NodeProto conv = OnnxHelper.node("Conv", List.of("x", "w", "b"), List.of("y"), OnnxHelper.attr("pads", 1L, 1L, 1L, 1L));
        List<TensorProto> convWeights = List.of(floats("w", new long[] {4, 4, 3, 3}, 1), floats("b", new long[] {4}, 2));
        ValueInfoProto image = OnnxHelper.valueInfo("x", DataType.FLOAT, -1, 4, 8, 8);
        return Stream.of(
                new Case("MatMul", "quantize-dynamic", model("MatMul", OnnxHelper.node("MatMul", List.of("x", "w"), List.of("y")),
                        rows(), List.of(floats("w", new long[] {8, 6}, 1))), "w",
                        List.of("DynamicQuantizeLinear", "MatMulInteger", "Cast", "Mul", "Mul"), "DynamicQuantizeMatMul"),
                new Case("Gemm", "quantize-dynamic(per-channel=true)", model("Gemm", OnnxHelper.node("Gemm",
                        List.of("x", "w", "b"), List.of("y"), OnnxHelper.attr("transB", 1L)), rows(),
                        List.of(floats("w", new long[] {6, 8}, 1), floats("b", new long[] {6}, 2))), "w",
                        List.of("DynamicQuantizeLinear", "MatMulInteger", "Cast", "Mul", "Mul", "Add"), "DynamicQuantizeMatMul"),
                new Case("Conv", "quantize-dynamic", model("Conv", conv, image, convWeights), "w",
                        List.of("DequantizeLinear", "Conv"), null),
                new Case("Conv", "quantize-dynamic(conv=integer)", model("Conv", conv, image, convWeights), "w",
                        List.of("DynamicQuantizeLinear", "ConvInteger", "Cast", "Mul", "Mul", "Reshape", "Add"), "ConvInteger"),
                recurrent("LSTM", 4),
                recurrent("GRU", 3),
                recurrent("RNN", 1),
                new Case("Gather", "quantize-dynamic", model("Gather", OnnxHelper.node("Gather", List.of("table", "x"),
                        List.of("y")), OnnxHelper.valueInfo("x", DataType.INT64, -1, 3),
                        List.of(floats("table", new long[] {10, 8}, 1))), "table", List.of("Gather", "DequantizeLinear"), null));
    }

    /** Inputs for {@code model}'s x: 16 rows of Gaussian values, or token ids below 10. */
    private static Dataset data(Case c) throws Exception {
        ValueInfoProto x = c.model().graph().getInput(0);
        long[] shape = x.getType().getTensorType().getShape().getDimList().stream()
                .mapToLong(d -> d.hasDimValue() ? d.getDimValue() : 16).toArray();
        int n = (int) java.util.Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        Tensor values;
        if (x.getType().getTensorType().getElemType() == DataType.INT64.code()) {
            Random random = new Random(3);
            long[] ids = new long[n];
            for (int i = 0; i < n; i++) {
                ids[i] = random.nextInt(10);
            }
            values = Tensor.ofLongs(shape, ids);
        } else {
            values = Tensor.ofFloats(shape, random(n, 3));
        }
        Path file = dir.resolve(c.op() + "-" + c.pipeline().hashCode() + ".npz");
        Datasets.writeNpz(file, Map.of("x", values));
        return Datasets.open(file, "x");
    }

    private static List<String> ops(OnnxModel model) {
        return model.graph().getNodeList().stream().map(NodeProto::getOpType).toList();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void eachHandlerWritesItsIntegerForm(Case c) throws Exception {
        HarnessResult result = PluginHarness.of(new QuantizeDynamicTransform()).run(c.pipeline(), c.model(), dir);
        OnnxModel quantized = result.output().onnxModel();

        assertEquals(new TreeSet<>(c.written()), new TreeSet<>(ops(quantized)), c + ": " + ops(quantized));
        if (c.weight() == null) {
            assertEquals(0.0, result.metrics().get("quantized-nodes"), c.toString());
            assertTrue(result.notes().stream().anyMatch(n -> n.startsWith("left float: ")
                    && n.contains("no integer " + c.op() + " kernel")), result.notes().toString());
            assertEquals(c.model().graph(), quantized.graph(), "left as it was");
            return;
        }
        assertEquals(1.0, result.metrics().get("quantized-nodes"), c.toString());
        Set<String> floatConstants = new TreeSet<>();
        for (TensorProto t : quantized.graph().getInitializerList()) {
            if (t.getDataType() == DataType.FLOAT.code() && t.getDimsCount() >= 2) {
                floatConstants.add(t.getName());
            }
        }
        assertEquals(Set.of(), floatConstants, "no float weight stays: " + c);
        if (c.fused() != null) {
            List<String> fused = ops(inference.optimize(quantized, GraphOptimizationLevel.ALL));
            assertTrue(fused.contains(c.fused()), c + " runs as " + c.fused() + ": " + fused);
            assertFalse(fused.contains(c.op()), c + ": " + fused);
        }
        double sqnr = ZooModels.sqnr(inference, c.model(), quantized, data(c));
        assertTrue(sqnr > 25, c + ": SQNR " + sqnr + " dB");
    }

    @Test
    void everyDynamicHandlerHasACase() {
        Set<String> covered = new TreeSet<>();
        cases().forEach(c -> covered.add(c.op()));
        assertEquals(new TreeSet<>(QuantOps.DYNAMIC), covered);
    }
}
