package io.modelrefinery.plugin.fp16;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.infer.GraphOptimizationLevel;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.HarnessResult;
import io.modelrefinery.testkit.PluginHarness;
import io.modelrefinery.testkit.SampleData;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;
import static io.modelrefinery.api.onnx.OnnxHelper.node;
import static io.modelrefinery.api.onnx.OnnxHelper.valueInfo;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class Fp16TransformTest {
    @TempDir
    Path dir;

    private static OnnxModel sample() throws Exception {
        return ConformanceModels.sampleCnn();
    }

    private static Tensor images(int n) {
        return SampleData.randomImages(11, n, 28, 28);
    }

    private Tensor run(OnnxModel model, String input, Tensor x, String output) {
        try (InferenceSession session = PluginHarness.inference(dir).open(model)) {
            return session.run(Map.of(input, x)).get(output);
        }
    }

    private static DataType inputType(OnnxModel model, int i) {
        return OnnxHelper.elementType(model.graph().getInput(i)).orElseThrow();
    }

    private static DataType outputType(OnnxModel model, int i) {
        return OnnxHelper.elementType(model.graph().getOutput(i)).orElseThrow();
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }

    @Test
    void halvesTheSampleModelKeepsFloat32InterfaceAndStaysClose() throws Exception {
        OnnxModel model = sample();
        Tensor x = images(64);

        HarnessResult result = PluginHarness.of(new Fp16Transform()).run("fp16", model, dir);
        OnnxModel half = result.output().onnxModel();

        assertEquals(DataType.FLOAT, inputType(half, 0));
        assertEquals(DataType.FLOAT, outputType(half, 0));
        for (TensorProto init : half.graph().getInitializerList()) {
            assertEquals(DataType.FLOAT16.code(), init.getDataType(), init.getName());
        }
        assertTrue(half.toByteArray().length < 0.6 * model.toByteArray().length);
        float[] expected = run(model, "input", x, "output").toFloatArray();
        float[] actual = run(half, "input", x, "output").toFloatArray();
        assertTrue(maxAbsDiff(expected, actual) < 2e-3, "max difference " + maxAbsDiff(expected, actual));
        assertEquals(6.0, result.steps().get(0).metrics().get("converted-initializers"));
        assertEquals(2.0, result.steps().get(0).metrics().get("casts-added"));
    }

    @Test
    void withoutKeepIoTypesTheInterfaceIsFloat16Too() throws Exception {
        OnnxModel half = PluginHarness.of(new Fp16Transform()).run("fp16(keep-io-types=false)", sample(), dir)
                .output().onnxModel();
        Tensor x = images(4);
        Tensor x16 = Tensor.fromFloats(DataType.FLOAT16, x.shape(), x.toFloatArray());

        Tensor y = run(half, "input", x16, "output");

        assertEquals(DataType.FLOAT16, inputType(half, 0));
        assertEquals(DataType.FLOAT16, outputType(half, 0));
        assertEquals(DataType.FLOAT16, y.type());
        assertTrue(GraphIndex.of(half.graph()).nodes().stream().noneMatch(n -> n.getOpType().equals("Cast")));
        assertTrue(maxAbsDiff(run(sample(), "input", x, "output").toFloatArray(), y.toFloatArray()) < 2e-3);
    }

    @Test
    void blockedOperatorsStayFloat32BehindCasts() throws Exception {
        OnnxModel model = sample();
        HarnessResult result = PluginHarness.of(new Fp16Transform()).run("fp16(exclude-op-types=[Relu,Gemm])", model, dir);
        OnnxModel half = result.output().onnxModel();
        GraphIndex index = GraphIndex.of(half.graph());

        NodeProto gemm = half.graph().getNodeList().stream().filter(n -> n.getOpType().equals("Gemm")).findFirst()
                .orElseThrow();
        assertEquals(DataType.FLOAT.code(), index.initializer("fc.weight").orElseThrow().getDataType());
        assertEquals("Cast", index.producer(gemm.getInput(0)).orElseThrow().getOpType());
        assertEquals(3.0, result.steps().get(0).metrics().get("float32-nodes")); // two Relu and the Gemm
        Tensor x = images(8);
        assertTrue(maxAbsDiff(run(model, "input", x, "output").toFloatArray(),
                run(half, "input", x, "output").toFloatArray()) < 2e-3);
    }

    @Test
    void constantsAndCastsToFloatFollowTheConversion() throws Exception {
        // y = relu(cast(cast(x, int64), float) * c) with c from a Constant node and a ConstantOfShape offset
        OnnxModel model = OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("consts",
                List.of(node("Constant", List.of(), List.of("c"), attr("value", Tensor.ofFloats(new long[] {3},
                                0.5f, -2f, 1e6f).toProto("c_value"))),
                        node("Cast", List.of("x"), List.of("xi"), attr("to", (long) DataType.INT64.code())),
                        node("Cast", List.of("xi"), List.of("xf"), attr("to", (long) DataType.FLOAT.code())),
                        node("Shape", List.of("x"), List.of("shape")),
                        node("ConstantOfShape", List.of("shape"), List.of("zeros")),
                        node("Mul", List.of("xf", "c"), List.of("scaled")),
                        node("Add", List.of("scaled", "zeros"), List.of("sum")),
                        node("Relu", List.of("sum"), List.of("y"))),
                List.of(valueInfo("x", DataType.FLOAT, 2, 3)),
                List.of(valueInfo("y", DataType.FLOAT, 2, 3)), List.of()), 17));
        // The large constant meets zeros: how a runtime computes an overflowing product is its own affair.
        Tensor x = Tensor.ofFloats(new long[] {2, 3}, 1, 2, 0, 4, 5, 0);

        HarnessResult result = PluginHarness.of(new Fp16Transform()).run("fp16", model, dir);
        OnnxModel half = result.output().onnxModel();
        Tensor y = run(half, "x", x, "y");

        assertArrayEquals(new float[] {0.5f, 0, 0, 2, 0, 0}, y.toFloatArray());
        NodeProto constant = GraphIndex.of(half.graph()).producer("c").orElseThrow();
        Tensor stored = Tensor.fromProto(OnnxHelper.attribute(constant, "value").orElseThrow().getT());
        assertEquals(DataType.FLOAT16, stored.type());
        assertArrayEquals(new double[] {0.5, -2, 65504}, stored.toDoubleArray());
        NodeProto toFloat = GraphIndex.of(half.graph()).producer("xf").orElseThrow();
        assertEquals(DataType.FLOAT16.code(), OnnxHelper.getInt(toFloat, "to", 0));
        assertEquals(1.0, result.steps().get(0).metrics().get("saturated-values"));
        assertTrue(result.steps().get(0).notes().get(0).contains("clamped"));
    }

    /** A graph of unnamed nodes (as most exporters write them) with every output a graph output. */
    private static OnnxModel unnamed(List<NodeProto> nodes, List<TensorProto> initializers, long[] shape,
                                     String... outputs) {
        List<NodeProto> withoutNames = nodes.stream().map(n -> n.toBuilder().clearName().build()).toList();
        return OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("unnamed", withoutNames,
                List.of(valueInfo("x", DataType.FLOAT, shape)),
                List.of(outputs).stream().map(Fp16TransformTest::floatOfAnyShape).toList(), initializers), 17));
    }

    private static ValueInfoProto floatOfAnyShape(String name) {
        ValueInfoProto.Builder v = ValueInfoProto.newBuilder().setName(name);
        v.getTypeBuilder().getTensorTypeBuilder().setElemType(DataType.FLOAT.code());
        return v.build();
    }

    private Map<String, Tensor> runAll(OnnxModel model, Tensor x) {
        try (InferenceSession session = PluginHarness.inference(dir).open(model)) {
            return session.run(Map.of("x", x));
        }
    }

    @Test
    void unnamedNodesWithSeveralGraphOutputsAreConverted() {
        // LayerNormalization's three outputs and Split's two are all graph outputs, renamed one after another
        OnnxModel model = unnamed(List.of(
                node("LayerNormalization", List.of("x", "scale", "bias"), List.of("Y", "Mean", "InvStdDev"),
                        attr("axis", -1L)),
                node("Split", List.of("Y", "halves"), List.of("a", "b"), attr("axis", 1L))),
                List.of(Tensor.ofFloats(new long[] {4}, 1f, 0.5f, 2f, 1f).toProto("scale"),
                        Tensor.ofFloats(new long[] {4}, 0f, 0.1f, -0.1f, 0f).toProto("bias"),
                        Tensor.ofLongs(new long[] {2}, 2, 2).toProto("halves")),
                new long[] {3, 4}, "Y", "Mean", "InvStdDev", "a", "b");
        Tensor x = SampleData.randomImages(3, 3, 4);

        OnnxModel half = PluginHarness.of(new Fp16Transform()).run("fp16", model, dir).output().onnxModel();

        Map<String, Tensor> expected = runAll(model, x);
        Map<String, Tensor> actual = runAll(half, x);
        assertEquals(expected.keySet(), actual.keySet());
        for (String name : expected.keySet()) {
            assertEquals(DataType.FLOAT, actual.get(name).type(), name);
            assertTrue(maxAbsDiff(expected.get(name).toFloatArray(), actual.get(name).toFloatArray()) < 1e-2, name);
        }
        assertTrue(half.graph().getNodeList().stream().anyMatch(n -> n.getOpType().equals("LayerNormalization")));
    }

    @Test
    void operatorsOnnxRuntimeCannotRunInFloat16StayFloat32AndAreNamedInTheNotes() {
        // ScatterElements with a reduction: the CPU kernel refuses float16 when it runs
        OnnxModel scatter = unnamed(List.of(
                node("Relu", List.of("x"), List.of("r")),
                node("ScatterElements", List.of("r", "i", "u"), List.of("y"), attr("axis", 1L), attr("reduction", "add"))),
                List.of(Tensor.ofLongs(new long[] {1, 2}, 0, 2).toProto("i"),
                        Tensor.ofFloats(new long[] {1, 2}, 1f, 2f).toProto("u")),
                new long[] {2, 3}, "y");
        // torch's sequence-first attention: a float16 Transpose moving the leading axis into a MatMul crashes
        // ONNX Runtime's default optimizations
        OnnxModel attention = unnamed(List.of(
                node("Transpose", List.of("x"), List.of("t"), attr("perm", 1L, 0L, 2L)),
                node("MatMul", List.of("t", "w"), List.of("y"))),
                List.of(Tensor.ofFloats(new long[] {4, 2}, 1, 2, 3, 4, 5, 6, 7, 8).toProto("w")),
                new long[] {3, 2, 4}, "y");

        HarnessResult scattered = PluginHarness.of(new Fp16Transform()).run("fp16", scatter, dir);
        HarnessResult attended = PluginHarness.of(new Fp16Transform()).run("fp16", attention, dir);

        assertEquals(List.of("1 ScatterElements node kept in float32 with casts around: no float16 kernel with a "
                + "reduction"), scattered.steps().get(0).notes());
        assertEquals(List.of("1 Transpose node kept in float32 with casts around: a float16 Transpose that moves the "
                + "leading axis into a MatMul crashes ONNX Runtime's default session optimizations"),
                attended.steps().get(0).notes());
        Tensor x = SampleData.randomImages(5, 2, 3);
        assertTrue(maxAbsDiff(runAll(scatter, x).get("y").toFloatArray(),
                runAll(scattered.output().onnxModel(), x).get("y").toFloatArray()) < 1e-2);
    }

    @Test
    void operatorsOnnxRuntimeRefusesInFloat16AtLoadStayFloat32() {
        // Celu's schema has no float16; the Relu before it is converted
        OnnxModel celu = unnamed(List.of(node("Relu", List.of("x"), List.of("r")),
                node("Celu", List.of("r"), List.of("y"), attr("alpha", 2f))), List.of(), new long[] {2, 3}, "y");

        HarnessResult result = PluginHarness.of(new Fp16Transform()).run("fp16", celu, dir);

        assertEquals(List.of("kept in float32, since ONNX Runtime has no float16 kernel for them: Celu"),
                result.steps().get(0).notes());
        assertEquals(1.0, result.steps().get(0).metrics().get("float32-nodes"));
    }

    /**
     * ONNX Runtime's optimizations above level basic write its own operators (FusedConv, FusedGemm, NCHWc
     * convolutions), which fp16 leaves float32: converting the rest only added casts (the sample at level
     * extended: 14,760 -> 15,663 bytes, published).
     */
    @ParameterizedTest
    @EnumSource(value = GraphOptimizationLevel.class, names = {"EXTENDED", "ALL"})
    void aModelWhoseWeightsAllStayFloat32IsRefusedNotEnlarged(GraphOptimizationLevel level) throws Exception {
        OnnxModel optimized = PluginHarness.inference(dir).optimize(sample(), level);
        Assumptions.assumeTrue(optimized.graph().getNodeList().stream()
                        .filter(n -> n.getInputList().contains("fc.weight") || n.getOpType().endsWith("Conv"))
                        .noneMatch(n -> n.getDomain().isEmpty()),
                "this CPU's ONNX Runtime keeps ONNX operators at " + level);

        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> PluginHarness.of(new Fp16Transform()).run("fp16", optimized, dir));

        assertTrue(e.getMessage().contains("fp16 converts none of the model's 6 float32 weights: ONNX Runtime's own "
                + "operators read them ("), e.getMessage());
        assertTrue(e.getMessage().contains(level == GraphOptimizationLevel.ALL ? "com.microsoft.nchwc Conv"
                : "com.microsoft FusedConv"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        // the same model as it came converts
        assertEquals(6.0, PluginHarness.of(new Fp16Transform()).run("fp16", sample(), dir).steps().get(0).metrics()
                .get("converted-initializers"));
    }
}
