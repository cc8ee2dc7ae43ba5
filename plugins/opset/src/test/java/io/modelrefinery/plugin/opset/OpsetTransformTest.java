package io.modelrefinery.plugin.opset;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;
import io.modelrefinery.api.plugin.InvalidParamException;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.HarnessResult;
import io.modelrefinery.testkit.ModelOutputs;
import io.modelrefinery.testkit.PluginHarness;
import io.modelrefinery.testkit.SampleData;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;
import static io.modelrefinery.api.onnx.OnnxHelper.node;
import static io.modelrefinery.api.onnx.OnnxHelper.valueInfo;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each rewritten operator run in ONNX Runtime before and after conversion, on the same inputs: the
 * outputs must be the same. Refusals name the node and why.
 */
class OpsetTransformTest {
    @TempDir
    Path dir;

    // ---------------------------------------------------------------- models and runs

    /** A one-graph model at {@code opset}: inputs named x (given), outputs y... with types only. */
    private static final class Model {
        final int opset;
        final List<NodeProto> nodes = new ArrayList<>();
        final List<ValueInfoProto> inputs = new ArrayList<>();
        final List<String> outputs = new ArrayList<>();
        final List<TensorProto> initializers = new ArrayList<>();
        final Map<String, Tensor> feeds = new LinkedHashMap<>();

        Model(int opset) {
            this.opset = opset;
        }

        Model input(String name, Tensor value) {
            inputs.add(valueInfo(name, value.type(), value.shape()));
            feeds.put(name, value);
            return this;
        }

        Model constant(String name, Tensor value) {
            initializers.add(value.toProto(name));
            return this;
        }

        Model node(NodeProto node) {
            nodes.add(node);
            return this;
        }

        Model outputs(String... names) {
            outputs.addAll(List.of(names));
            return this;
        }

        OnnxModel build() {
            List<ValueInfoProto> outs = outputs.stream().map(OpsetTransformTest::untyped).toList();
            return OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("g", nodes, inputs, outs, initializers), opset));
        }
    }

    /** An output declared without a type: ONNX Runtime infers it. */
    private static ValueInfoProto untyped(String name) {
        return ValueInfoProto.newBuilder().setName(name).build();
    }

    private Map<String, Tensor> run(OnnxModel model, Map<String, Tensor> feeds) {
        try (InferenceSession session = PluginHarness.inference(dir).open(model)) {
            return session.run(feeds);
        }
    }

    private HarnessResult convert(OnnxModel model, int target) {
        return PluginHarness.of(new OpsetTransform()).run("opset(target=" + target + ")", model, dir);
    }

    /** Converts to {@code target}, checks the outputs are the same as before, returns the converted model. */
    private OnnxModel convertAndCompare(Model m, int target) {
        return convertAndCompare(m.build(), m.feeds, target);
    }

    private OnnxModel convertAndCompare(OnnxModel model, Map<String, Tensor> feeds, int target) {
        Map<String, Tensor> before = run(model, feeds);
        OnnxModel converted = convert(model, target).output().onnxModel();
        assertEquals(target, converted.opsetVersion());
        Map<String, Tensor> after = run(converted, feeds);
        assertEquals(before.keySet(), after.keySet());
        for (String name : before.keySet()) {
            Tensor b = before.get(name);
            Tensor a = after.get(name);
            assertArrayEquals(b.shape(), a.shape(), name);
            assertEquals(b.type(), a.type(), name);
            double diff = ModelOutputs.maxAbsDiff(b.toFloatArray(), a.toFloatArray());
            assertTrue(diff <= 1e-6, name + " differs by " + diff + " after conversion to opset " + target);
        }
        return converted;
    }

    private String refusal(Model m, int target) {
        return assertThrows(InvalidInputException.class, () -> convert(m.build(), target)).getMessage();
    }

    private static NodeProto only(OnnxModel model, String opType) {
        List<NodeProto> found = model.graph().getNodeList().stream().filter(n -> n.getOpType().equals(opType)).toList();
        assertEquals(1, found.size(), opType + " nodes in " + model.graph().getNodeList());
        return found.get(0);
    }

    private static boolean hasAttribute(NodeProto node, String name) {
        return OnnxHelper.attribute(node, name).isPresent();
    }

    private static List<String> opTypes(OnnxModel model) {
        return model.graph().getNodeList().stream().map(NodeProto::getOpType).toList();
    }

    private static Tensor floats(long[] shape, long seed, float low, float high) {
        Tensor random = SampleData.randomImages(seed, shape);
        float[] v = random.toFloatArray();
        for (int i = 0; i < v.length; i++) {
            v[i] = low + v[i] * (high - low);
        }
        return Tensor.ofFloats(shape, v);
    }

    private static Tensor longs(long... values) {
        return Tensor.ofLongs(new long[] {values.length}, values);
    }

    private static Tensor x(long... shape) {
        return floats(shape, 7, -2f, 2f);
    }

    // ---------------------------------------------------------------- reductions

    @ParameterizedTest
    @ValueSource(strings = {"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
            "ReduceMin", "ReduceProd", "ReduceSumSquare"})
    void reductionAxesMoveBetweenAttributeAndInputAt18(String op) {
        Model at13 = new Model(13).input("x", floats(new long[] {2, 3, 4}, 3, 0.5f, 1.5f))
                .node(node(op, List.of("x"), List.of("y"), attr("axes", 1L, -1L), attr("keepdims", 0L))).outputs("y");

        OnnxModel at18 = convertAndCompare(at13, 18);
        NodeProto up = only(at18, op);
        OnnxModel back = convertAndCompare(at18, at13.feeds, 13);
        NodeProto down = only(back, op);

        assertEquals(2, up.getInputCount());
        assertTrue(!hasAttribute(up, "axes"));
        assertEquals(1, down.getInputCount());
        assertEquals(List.of(1L, -1L), OnnxHelper.getInts(down, "axes"));
    }

    @Test
    void aReductionOfNoAxesWithNoopBecomesIdentityBefore18() {
        Model at18 = new Model(18).input("x", x(2, 3))
                .node(node("ReduceMax", List.of("x"), List.of("y"), attr("noop_with_empty_axes", 1L))).outputs("y");

        OnnxModel at13 = convertAndCompare(at18, 13);

        assertEquals(List.of("Identity"), opTypes(at13));
    }

    @Test
    void reductionAxesComputedAtRunTimeCannotBecomeAnAttribute() {
        Model at18 = new Model(18).input("x", x(2, 3)).input("axes", longs(1))
                .node(node("ReduceMean", List.of("x", "axes"), List.of("y"))).outputs("y");

        assertEquals("step 1 'opset': ReduceMean node 'y_ReduceMean' cannot be converted to opset 17: the axes input "
                + "is computed at run time, and must be known to move it", refusal(at18, 17));
    }

    @Test
    void reduceSumAndOperatorsWhoseSignatureDidNotChangeOnlyGetTheNewVersion() {
        Model at13 = new Model(13).input("x", x(2, 3, 4)).constant("axes", longs(1)).constant("lo", Tensor.scalar(-1f))
                .constant("hi", Tensor.scalar(1f)).constant("one", longs(0))
                .node(node("ReduceSum", List.of("x", "axes"), List.of("s"), attr("keepdims", 0L)))
                .node(node("Clip", List.of("s", "lo", "hi"), List.of("c")))
                .node(node("Unsqueeze", List.of("c", "one"), List.of("u")))
                .node(node("Squeeze", List.of("u", "one"), List.of("y"))).outputs("y");

        OnnxModel at26 = convertAndCompare(at13, 26);
        HarnessResult back = convert(at26, 13);

        assertEquals(at13.build().graph(), at26.graph());
        assertEquals(at13.build().graph(), back.output().onnxModel().graph());
        assertEquals(13L, at26.proto().getIrVersion());
        assertEquals(7L, back.output().onnxModel().proto().getIrVersion());
        assertEquals(0.0, back.steps().get(0).metrics().get("rewritten-nodes"));
    }

    // ---------------------------------------------------------------- Split, Pad, Resize

    @Test
    void splitGetsNumOutputsAt18AndLosesItBefore() {
        Model at13 = new Model(13).input("x", x(6, 2))
                .node(node("Split", List.of("x"), List.of("a", "b"), attr("axis", 0L))).outputs("a", "b");

        OnnxModel at18 = convertAndCompare(at13, 18);
        OnnxModel back = convertAndCompare(at18, at13.feeds, 13);

        assertEquals(2L, OnnxHelper.getInt(only(at18, "Split"), "num_outputs", -1));
        assertTrue(!hasAttribute(only(back, "Split"), "num_outputs"));
    }

    @Test
    void anUnevenSplitGetsItsSizesBefore18() {
        Model at18 = new Model(18).input("x", x(2, 7))
                .node(node("Split", List.of("x"), List.of("a", "b", "c"), attr("axis", 1L), attr("num_outputs", 3L)))
                .outputs("a", "b", "c");

        OnnxModel at13 = convertAndCompare(at18, 13);

        NodeProto split = only(at13, "Split");
        assertArrayEquals(new long[] {3, 3, 1}, at13.initializer(split.getInput(1)).orElseThrow().toLongArray());
    }

    @Test
    void padAxesExpandToEveryAxisBefore18() {
        Model at18 = new Model(18).input("x", x(1, 2, 3, 3)).constant("pads", longs(1, 0, 2, 1))
                .constant("value", Tensor.scalar(0.5f)).constant("axes", longs(2, -1))
                .node(node("Pad", List.of("x", "pads", "value", "axes"), List.of("y"))).outputs("y");

        OnnxModel at13 = convertAndCompare(at18, 13);

        NodeProto pad = only(at13, "Pad");
        assertEquals(3, pad.getInputCount());
        assertArrayEquals(new long[] {0, 0, 1, 0, 0, 0, 2, 1}, at13.initializer(pad.getInput(1)).orElseThrow()
                .toLongArray());
        Model wrap = new Model(19).input("x", x(1, 2, 3, 3)).constant("pads", longs(0, 0, 1, 1, 0, 0, 1, 1))
                .node(node("Pad", List.of("x", "pads"), List.of("y"), attr("mode", "wrap"))).outputs("y");
        assertEquals("step 1 'opset': Pad node 'y_Pad' cannot be converted to opset 18: mode 'wrap' exists from "
                + "opset 19", refusal(wrap, 18));
        convertAndCompare(wrap, 26);
    }

    @Test
    void resizeAxesExpandBefore18AndNewModesAreRefused() {
        Model at18 = new Model(18).input("x", x(1, 2, 3, 4)).constant("sizes", longs(6, 2))
                .node(node("Resize", List.of("x", "", "", "sizes"), List.of("y"), attr("axes", 2L, 3L),
                        attr("mode", "linear"))).outputs("y");

        OnnxModel at13 = convertAndCompare(at18, 13);

        NodeProto resize = only(at13, "Resize");
        assertTrue(!hasAttribute(resize, "axes"));
        assertArrayEquals(new long[] {1, 2, 6, 2}, at13.initializer(resize.getInput(3)).orElseThrow().toLongArray());
        Model scales = new Model(13).input("x", x(1, 2, 3, 4))
                .constant("scales", Tensor.ofFloats(new long[] {4}, 1f, 1f, 2f, 0.5f))
                .node(node("Resize", List.of("x", "", "scales"), List.of("y"), attr("mode", "nearest"))).outputs("y");
        convertAndCompare(convertAndCompare(scales, 26), scales.feeds, 13);
        Model antialias = new Model(18).input("x", x(1, 2, 3, 4)).constant("sizes", longs(1, 2, 2, 2))
                .node(node("Resize", List.of("x", "", "", "sizes"), List.of("y"), attr("antialias", 1L),
                        attr("mode", "linear"))).outputs("y");
        assertEquals("step 1 'opset': Resize node 'y_Resize' cannot be converted to opset 17: antialiasing exists "
                + "from opset 18", refusal(antialias, 17));
        Model symmetric = new Model(19).input("x", x(1, 2, 3, 4)).constant("sizes", longs(1, 2, 5, 5))
                .node(node("Resize", List.of("x", "", "", "sizes"), List.of("y"), attr("mode", "linear"),
                        attr("coordinate_transformation_mode", "half_pixel_symmetric"))).outputs("y");
        assertTrue(refusal(symmetric, 18).endsWith("coordinate_transformation_mode 'half_pixel_symmetric' exists "
                + "from opset 19"));
    }

    // ---------------------------------------------------------------- other signature changes

    @Test
    void aPartialShapeBecomesShapeAndSliceBefore15() {
        Model at15 = new Model(15).input("x", x(2, 3, 4, 5))
                .node(node("Shape", List.of("x"), List.of("y"), attr("start", 1L), attr("end", -1L))).outputs("y");

        OnnxModel at13 = convertAndCompare(at15, 13);

        assertEquals(List.of("Shape", "Slice"), opTypes(at13));
    }

    @Test
    void reshapeAllowZeroIsDroppedWhenTheShapeHasNoZeroAndRefusedOtherwise() {
        Model at14 = new Model(14).input("x", x(2, 6)).constant("shape", longs(3, -1))
                .node(node("Reshape", List.of("x", "shape"), List.of("y"), attr("allowzero", 1L))).outputs("y");
        Model zero = new Model(14).input("x", x(2, 6)).constant("shape", longs(0, -1))
                .node(node("Reshape", List.of("x", "shape"), List.of("y"), attr("allowzero", 1L))).outputs("y");

        assertTrue(!hasAttribute(only(convertAndCompare(at14, 13), "Reshape"), "allowzero"));
        assertTrue(refusal(zero, 13).endsWith("allowzero=1 with a shape that has or may have zeros exists from opset 14"));
    }

    @Test
    void batchNormalizationLosesItsTrainingModeBefore14() {
        Model at15 = new Model(15).input("x", x(2, 3, 4))
                .constant("scale", Tensor.ofFloats(new long[] {3}, 1f, 2f, 0.5f))
                .constant("bias", Tensor.ofFloats(new long[] {3}, 0f, 1f, -1f))
                .constant("mean", Tensor.ofFloats(new long[] {3}, 0.1f, 0.2f, 0.3f))
                .constant("var", Tensor.ofFloats(new long[] {3}, 1f, 0.5f, 2f))
                .node(node("BatchNormalization", List.of("x", "scale", "bias", "mean", "var"), List.of("y"),
                        attr("training_mode", 0L))).outputs("y");

        OnnxModel at13 = convertAndCompare(at15, 13);

        assertTrue(!hasAttribute(only(at13, "BatchNormalization"), "training_mode"));
        convertAndCompare(at13, at15.feeds, 15);
    }

    private static Model roiAlign(int opset, AttributeProto... attributes) {
        List<AttributeProto> all = new ArrayList<>(List.of(attr("output_height", 2L), attr("output_width", 2L),
                attr("sampling_ratio", 2L)));
        all.addAll(List.of(attributes));
        return new Model(opset).input("x", x(1, 2, 6, 6))
                .constant("rois", Tensor.ofFloats(new long[] {2, 4}, 0.5f, 0.5f, 4f, 3.5f, 1f, 0f, 5f, 5f))
                .constant("batch", Tensor.ofLongs(new long[] {2}, 0, 0))
                .node(node("RoiAlign", List.of("x", "rois", "batch"), List.of("y"), all.toArray(new AttributeProto[0])))
                .outputs("y");
    }

    @Test
    void roiAlignKeepsItsCoordinatesAcross16() {
        OnnxModel at16 = convertAndCompare(roiAlign(13), 16);

        assertEquals("output_half_pixel", OnnxHelper.getString(only(at16, "RoiAlign"), "coordinate_transformation_mode",
                ""));
        convertAndCompare(at16, roiAlign(13).feeds, 13);
        assertEquals("step 1 'opset': RoiAlign node 'y_RoiAlign' cannot be converted to opset 15: before opset 16 "
                + "RoiAlign only has output_half_pixel coordinates", refusal(roiAlign(16), 15));
    }

    @Test
    void scatterReductionsAreRefusedWhereTheyDoNotExist() {
        Model add = new Model(16).input("x", x(3, 3)).constant("indices", Tensor.ofLongs(new long[] {1, 2}, 0, 2))
                .constant("updates", Tensor.ofFloats(new long[] {1, 2}, 5f, 6f))
                .node(node("ScatterElements", List.of("x", "indices", "updates"), List.of("y"),
                        attr("reduction", "add"))).outputs("y");
        Model none = new Model(16).input("x", x(3, 3)).constant("indices", Tensor.ofLongs(new long[] {1, 2}, 0, 2))
                .constant("updates", Tensor.ofFloats(new long[] {1, 2}, 5f, 6f))
                .node(node("ScatterElements", List.of("x", "indices", "updates"), List.of("y"),
                        attr("reduction", "none"))).outputs("y");

        assertTrue(refusal(add, 15).endsWith("reductions exist from opset 16"));
        convertAndCompare(none, 13);
        convertAndCompare(add, 18);
    }

    @Test
    void gridSampleModesAreRenamedAt20() {
        Model at16 = new Model(16).input("x", x(1, 1, 4, 4)).input("grid", floats(new long[] {1, 3, 3, 2}, 5, -1f, 1f))
                .node(node("GridSample", List.of("x", "grid"), List.of("y"), attr("mode", "bilinear"))).outputs("y");

        OnnxModel at20 = convertAndCompare(at16, 20);

        assertEquals("linear", OnnxHelper.getString(only(at20, "GridSample"), "mode", ""));
        assertEquals("bilinear", OnnxHelper.getString(only(convertAndCompare(at20, at16.feeds, 16), "GridSample"),
                "mode", ""));
    }

    @Test
    void groupNormalizationScalesMoveBetweenGroupsAndChannelsAt21() {
        Model at18 = new Model(18).input("x", x(2, 4, 3))
                .constant("scale", Tensor.ofFloats(new long[] {2}, 1.5f, 0.5f))
                .constant("bias", Tensor.ofFloats(new long[] {2}, 0.25f, -1f))
                .node(node("GroupNormalization", List.of("x", "scale", "bias"), List.of("y"), attr("num_groups", 2L)))
                .outputs("y");

        OnnxModel at21 = convertAndCompare(at18, 21);
        NodeProto up = only(at21, "GroupNormalization");
        OnnxModel back = convertAndCompare(at21, at18.feeds, 18);

        assertArrayEquals(new float[] {1.5f, 1.5f, 0.5f, 0.5f}, at21.initializer(up.getInput(1)).orElseThrow()
                .toFloatArray());
        assertArrayEquals(new float[] {1.5f, 0.5f}, back.initializer(only(back, "GroupNormalization").getInput(1))
                .orElseThrow().toFloatArray());
        Model perChannel = new Model(21).input("x", x(2, 4, 3))
                .constant("scale", Tensor.ofFloats(new long[] {4}, 1f, 2f, 3f, 4f))
                .constant("bias", Tensor.ofFloats(new long[] {4}, 0f, 0f, 0f, 0f))
                .node(node("GroupNormalization", List.of("x", "scale", "bias"), List.of("y"), attr("num_groups", 2L)))
                .outputs("y");
        assertTrue(refusal(perChannel, 20).endsWith("its scale differs within a group of channels, and before opset "
                + "21 it is per group"));
    }

    @Test
    void poolingAttributesThatDidNotExistAreRefusedAndDefaultsDropped() {
        Model ones = new Model(19).input("x", x(1, 1, 5, 5)).node(node("AveragePool", List.of("x"), List.of("y"),
                attr("kernel_shape", 2L, 2L), attr("dilations", 1L, 1L))).outputs("y");
        Model dilated = new Model(19).input("x", x(1, 1, 5, 5)).node(node("AveragePool", List.of("x"), List.of("y"),
                attr("kernel_shape", 2L, 2L), attr("dilations", 2L, 2L))).outputs("y");
        Model ceil = new Model(18).input("x", x(1, 1, 5, 5)).node(node("LpPool", List.of("x"), List.of("y"),
                attr("kernel_shape", 2L, 2L), attr("strides", 2L, 2L), attr("ceil_mode", 1L))).outputs("y");

        assertTrue(!hasAttribute(only(convertAndCompare(ones, 13), "AveragePool"), "dilations"));
        assertTrue(refusal(dilated, 18).endsWith("dilations other than 1 exist from opset 19"));
        assertTrue(refusal(ceil, 17).endsWith("ceil_mode exists from opset 18"));
        convertAndCompare(ceil, 22);
    }

    @Test
    void dftAxisMovesBetweenAttributeAndInputAt20() {
        Model at17 = new Model(17).input("x", x(2, 8, 1))
                .node(node("DFT", List.of("x"), List.of("y"), attr("axis", 1L))).outputs("y");

        OnnxModel at20 = convertAndCompare(at17, 20);
        OnnxModel back = convertAndCompare(at20, at17.feeds, 17);

        assertEquals(3, only(at20, "DFT").getInputCount());
        assertEquals(1L, OnnxHelper.getInt(only(back, "DFT"), "axis", -99));
    }

    @Test
    void quantizeLinearOutputTypeBecomesAZeroPointBefore21() {
        Model at21 = new Model(21).input("x", x(2, 3)).constant("scale", Tensor.scalar(0.02f))
                .node(node("QuantizeLinear", List.of("x", "scale"), List.of("y"),
                        attr("output_dtype", (long) DataType.INT8.code()))).outputs("y");

        OnnxModel at13 = convertAndCompare(at21, 13);

        NodeProto quantize = only(at13, "QuantizeLinear");
        assertEquals(DataType.INT8, at13.initializer(quantize.getInput(2)).orElseThrow().type());
    }

    // ---------------------------------------------------------------- operators newer than the target

    @Test
    void newerActivationsAreWrittenWithOlderOperators() {
        Model hardSwish = new Model(14).input("x", x(2, 5)).node(node("HardSwish", List.of("x"), List.of("y")))
                .outputs("y");
        Model mish = new Model(18).input("x", x(2, 5)).node(node("Mish", List.of("x"), List.of("y"))).outputs("y");
        Model gelu = new Model(20).input("x", x(2, 5)).node(node("Gelu", List.of("x"), List.of("y"))).outputs("y");
        Model geluTanh = new Model(20).input("x", x(2, 5))
                .node(node("Gelu", List.of("x"), List.of("y"), attr("approximate", "tanh"))).outputs("y");
        Model swish = new Model(24).input("x", x(2, 5)).node(node("Swish", List.of("x"), List.of("y"),
                attr("alpha", 1.5f))).outputs("y");

        assertEquals(List.of("HardSigmoid", "Mul"), opTypes(convertAndCompare(hardSwish, 13)));
        assertEquals(List.of("Softplus", "Tanh", "Mul"), opTypes(convertAndCompare(mish, 13)));
        assertEquals(List.of("Mul", "Erf", "Add", "Mul", "Mul"), opTypes(convertAndCompare(gelu, 13)));
        assertTrue(opTypes(convertAndCompare(geluTanh, 19)).contains("Tanh"));
        assertEquals(List.of("Mul", "Sigmoid", "Mul"), opTypes(convertAndCompare(swish, 13)));
    }

    @Test
    void operatorsTheTargetLacksAreRefusedWithTheirName() {
        Model at17 = new Model(17).input("x", x(2, 4))
                .constant("scale", Tensor.ofFloats(new long[] {4}, 1f, 1f, 1f, 1f))
                .node(node("LayerNormalization", List.of("x", "scale"), List.of("y"))).outputs("y");

        assertEquals("step 1 'opset': LayerNormalization node 'y_LayerNormalization' cannot be converted to opset 16: "
                + "LayerNormalization exists from opset 17", refusal(at17, 16));
    }

    // ---------------------------------------------------------------- subgraphs and the model

    @Test
    void subgraphsAreConvertedToo() {
        GraphProto branch = OnnxHelper.graph("branch",
                List.of(node("ReduceMax", List.of("x"), List.of("r"), attr("axes", new long[] {1}), attr("keepdims", 0L))),
                List.of(), List.of(untyped("r")), List.of());
        Model at13 = new Model(13).input("x", x(2, 3)).input("c", Tensor.of(DataType.BOOL, new long[0], new byte[] {1}))
                .node(node("If", List.of("c"), List.of("y"), attr("then_branch", branch.toBuilder().setName("then")
                        .build()), attr("else_branch", branch.toBuilder().setName("else").build()))).outputs("y");

        OnnxModel at18 = convertAndCompare(at13, 18);

        NodeProto inner = OnnxHelper.attribute(only(at18, "If"), "then_branch").orElseThrow().getG().getNode(0);
        assertEquals(2, inner.getInputCount());
    }

    @Test
    void theSampleModelGoesUpAndDownUnchangedInItsResults() throws Exception {
        Map<String, Tensor> feeds = Map.of("input", SampleData.randomImages(3, 4, 28, 28));

        OnnxModel up = convertAndCompare(ConformanceModels.sampleCnn(), feeds, 26);
        OnnxModel down = convertAndCompare(up, feeds, 13);

        assertEquals(13, down.opsetVersion());
    }

    @Test
    void theTargetMustBeAnOpsetTheRuntimeRunsAndTheSourceOneThatCanBeConverted() {
        Model at5 = new Model(5).input("x", x(2)).node(node("Relu", List.of("x"), List.of("y"))).outputs("y");
        Model at17 = new Model(17).input("x", x(2)).node(node("Relu", List.of("x"), List.of("y"))).outputs("y");

        assertEquals("invalid value 27 for parameter 'target' of 'opset': must be in [13, 26]",
                assertThrows(InvalidParamException.class, () -> convert(at17.build(), 27)).getMessage());
        assertEquals("step 1 'opset': the model uses opset 5; opsets 6 to 26 can be converted", refusal(at5, 17));
        assertEquals(List.of("the model already uses opset 17"), convert(at17.build(), 17).steps().get(0).notes());
        assertEquals(26.0, PluginHarness.of(new OpsetTransform()).run("opset", at17.build(), dir).steps().get(0).metrics()
                .get("target-opset"));
    }

    // ---------------------------------------------------------------- from opsets 7 to 12

    /** One test per change below opset 13: the old model and its conversion run on the same inputs. */
    @Nested
    class FromOldOpsets {
        @Test
        void batchNormalizationLosesSpatialAt9AndRefusesPerActivationStatistics() {
            Model at7 = batchNorm(7, 1);

            OnnxModel at13 = convertAndCompare(at7, 13);

            assertTrue(!hasAttribute(only(at13, "BatchNormalization"), "spatial"));
            assertTrue(refusal(batchNorm(7, 0), 13).endsWith("spatial=0 (statistics per activation) does not exist "
                    + "from opset 9"));
        }

        private Model batchNorm(int opset, long spatial) {
            return new Model(opset).input("x", x(2, 3, 4, 4)).constant("s", floats(new long[] {3}, 1, 0.5f, 2f))
                    .constant("b", floats(new long[] {3}, 2, -1f, 1f)).constant("m", floats(new long[] {3}, 3, -1f, 1f))
                    .constant("v", floats(new long[] {3}, 4, 0.5f, 2f))
                    .node(node("BatchNormalization", List.of("x", "s", "b", "m", "v"), List.of("y"),
                            attr("spatial", spatial), attr("epsilon", 1e-3f))).outputs("y");
        }

        @ParameterizedTest
        @ValueSource(strings = {"nearest", "linear"})
        void upsampleWithScalesAsAttributeBecomesResize(String mode) {
            Model at7 = new Model(7).input("x", x(1, 2, 3, 3))
                    .node(node("Upsample", List.of("x"), List.of("y"), attr("mode", mode),
                            attr("scales", 1f, 1f, 2f, 3f))).outputs("y");

            OnnxModel at13 = convertAndCompare(at7, 13);

            NodeProto resize = only(at13, "Resize");
            assertEquals("asymmetric", OnnxHelper.getString(resize, "coordinate_transformation_mode", ""));
            assertEquals(List.of("x", ""), resize.getInputList().subList(0, 2));
        }

        @Test
        void upsampleWithScalesAsInputBecomesResize() {
            Model at9 = new Model(9).input("x", x(1, 1, 2, 3)).constant("scales", Tensor.ofFloats(new long[] {4},
                    1f, 1f, 3f, 2f)).node(node("Upsample", List.of("x", "scales"), List.of("y"))).outputs("y");

            convertAndCompare(at9, 13);
        }

        @ParameterizedTest
        @ValueSource(strings = {"nearest", "linear"})
        void resize10GetsAnEmptyRoiAndItsCoordinates(String mode) {
            Model at10 = new Model(10).input("x", x(1, 1, 4, 6)).constant("scales", Tensor.ofFloats(new long[] {4},
                    1f, 1f, 0.5f, 1.5f)).node(node("Resize", List.of("x", "scales"), List.of("y"), attr("mode", mode)))
                    .outputs("y");

            OnnxModel at13 = convertAndCompare(at10, 13);

            assertEquals(List.of("x", "", "scales"), only(at13, "Resize").getInputList());
        }

        @Test
        void dropoutRatioBecomesAnInputAt12AndANumericMaskIsRefused() {
            Model at7 = new Model(7).input("x", x(2, 5))
                    .node(node("Dropout", List.of("x"), List.of("y"), attr("ratio", 0.3f))).outputs("y");
            Model mask = new Model(9).input("x", x(2, 5))
                    .node(node("Dropout", List.of("x"), List.of("y", "m"))).outputs("y", "m");

            OnnxModel at13 = convertAndCompare(at7, 13);

            NodeProto dropout = only(at13, "Dropout");
            assertEquals(0.3f, at13.initializer(dropout.getInput(1)).orElseThrow().toFloatArray()[0], 1e-7);
            assertTrue(refusal(mask, 13).endsWith("its mask output is of the data's type before opset 10 and boolean "
                    + "after"));
        }

        @Test
        void sliceAttributesBecomeInputsAt10() {
            Model at9 = new Model(9).input("x", x(4, 5, 6))
                    .node(node("Slice", List.of("x"), List.of("y"), attr("starts", 1L, -4L), attr("ends", 3L,
                            Long.MAX_VALUE), attr("axes", 0L, 2L))).outputs("y");

            OnnxModel at13 = convertAndCompare(at9, 13);

            assertEquals(4, only(at13, "Slice").getInputCount());
        }

        @Test
        void topKBecomesAnInputAt10() {
            Model at9 = new Model(9).input("x", x(3, 7))
                    .node(node("TopK", List.of("x"), List.of("v", "i"), attr("k", 2L))).outputs("v", "i");

            convertAndCompare(at9, 13);
        }

        @Test
        void clipBoundsBecomeInputsAt11() {
            Model both = new Model(10).input("x", x(3, 4))
                    .node(node("Clip", List.of("x"), List.of("y"), attr("min", -0.5f), attr("max", 0.75f))).outputs("y");
            Model maxOnly = new Model(7).input("x", x(3, 4))
                    .node(node("Clip", List.of("x"), List.of("y"), attr("max", 0.25f))).outputs("y");

            convertAndCompare(both, 13);
            OnnxModel at13 = convertAndCompare(maxOnly, 13);

            assertEquals("", only(at13, "Clip").getInput(1));
        }

        @ParameterizedTest
        @ValueSource(strings = {"constant", "reflect", "edge"})
        void padAttributesBecomeInputsAt11(String mode) {
            Model at10 = new Model(10).input("x", x(1, 2, 3, 4))
                    .node(node("Pad", List.of("x"), List.of("y"), attr("mode", mode), attr("pads", 0L, 0L, 1L, 2L, 0L,
                            0L, 2L, 1L), attr("value", 1.5f))).outputs("y");

            convertAndCompare(at10, 13);
        }

        @Test
        void scatterBecomesScatterElementsAt11() {
            Model at9 = new Model(9).input("x", x(3, 3)).constant("i", Tensor.ofLongs(new long[] {1, 2}, 2, 0))
                    .constant("u", Tensor.ofFloats(new long[] {1, 2}, 5f, 6f))
                    .node(node("Scatter", List.of("x", "i", "u"), List.of("y"), attr("axis", 1L))).outputs("y");

            OnnxModel at13 = convertAndCompare(at9, 13);

            assertEquals(List.of("ScatterElements"), opTypes(at13));
        }

        @Test
        void axesOfSplitSqueezeUnsqueezeAndReduceSumBecomeInputsAt13() {
            Model at12 = new Model(12).input("x", x(2, 6, 3))
                    .node(node("Split", List.of("x"), List.of("a", "b"), attr("axis", 1L), attr("split", 2L, 4L)))
                    .node(node("ReduceSum", List.of("b"), List.of("s"), attr("axes", new long[] {1}),
                            attr("keepdims", 1L)))
                    .node(node("Squeeze", List.of("s"), List.of("q"), attr("axes", new long[] {1})))
                    .node(node("Unsqueeze", List.of("q"), List.of("y"), attr("axes", 0L, 3L))).outputs("a", "y");

            OnnxModel at13 = convertAndCompare(at12, 13);

            for (NodeProto n : at13.graph().getNodeList()) {
                assertEquals(2, n.getInputCount(), n.getOpType());
                assertTrue(n.getAttributeList().stream().noneMatch(a -> a.getName().equals("axes")
                        || a.getName().equals("split")), n.getOpType());
            }
        }

        @ParameterizedTest
        @ValueSource(strings = {"Softmax", "LogSoftmax", "Hardmax"})
        void softmaxOverTrailingAxesIsFlattenedFrom13(String op) {
            Model middle = new Model(11).input("x", x(2, 3, 4))
                    .node(node(op, List.of("x"), List.of("y"), attr("axis", 1L))).outputs("y");
            Model last = new Model(11).input("x", x(2, 3, 4))
                    .node(node(op, List.of("x"), List.of("y"), attr("axis", 2L))).outputs("y");

            OnnxModel flattened = convertAndCompare(middle, 13);
            OnnxModel same = convertAndCompare(last, 13);

            assertEquals(List.of("Flatten", "Shape", op, "Reshape"), opTypes(flattened));
            assertEquals(-1L, OnnxHelper.getInt(only(same, op), "axis", 0));
        }

        @Test
        void imageScalerBecomesMulAndAdd() {
            Model at8 = new Model(8).input("x", x(1, 3, 2, 2))
                    .node(node("ImageScaler", List.of("x"), List.of("y"), attr("scale", 2f), attr("bias", 1f, -1f, 0.5f)))
                    .outputs("y");

            OnnxModel at13 = convert(at8.build(), 13).output().onnxModel();

            float[] in = at8.feeds.get("x").toFloatArray();
            float[] out = run(at13, at8.feeds).get("y").toFloatArray();
            float[] bias = {1f, -1f, 0.5f};
            for (int i = 0; i < in.length; i++) {
                assertEquals(2 * in[i] + bias[i / 4], out[i], 1e-6);
            }
            assertEquals(List.of("Mul", "Add"), opTypes(at13));
        }

        @Test
        void experimentalOperatorsAreRefusedWithTheVersionThatRemovedThem() {
            Model crop = new Model(7).input("x", x(1, 1, 4, 4))
                    .node(node("Crop", List.of("x"), List.of("y"), attr("border", 1L, 1L, 1L, 1L))).outputs("y");

            assertTrue(refusal(crop, 13).endsWith("Crop was an experimental operator, removed at opset 10"));
        }

        @Test
        void aModelOfIrVersion3WithInitializersAsInputsIsConvertedToTheTargetsIrVersion() {
            Model at8 = new Model(8).input("x", x(2, 3)).constant("w", floats(new long[] {3, 2}, 5, -1f, 1f))
                    .node(node("MatMul", List.of("x", "w"), List.of("m")))
                    .node(node("Unsqueeze", List.of("m"), List.of("y"), attr("axes", new long[] {0}))).outputs("y");
            OnnxModel ir3 = at8.build();
            ir3 = ir3.withProto(ir3.proto().toBuilder().setIrVersion(3).setGraph(ir3.graph().toBuilder()
                    .addInput(valueInfo("w", DataType.FLOAT, 3, 2))).build());

            OnnxModel at13 = convertAndCompare(ir3, at8.feeds, 13);

            assertEquals(7L, at13.proto().getIrVersion());
        }
    
        @Test
        void broadcastingByAxisBefore7BecomesNumpyBroadcasting() {
            // x [2, 3, 4] + b [3] at axis 1: b is aligned with x's second dimension
            Tensor b = Tensor.ofFloats(new long[] {3}, 10f, 20f, 30f);
            Model at6 = new Model(6).input("x", x(2, 3, 4)).constant("b", b)
                    .node(node("Add", List.of("x", "b"), List.of("y"), attr("broadcast", 1L), attr("axis", 1L)))
                    .outputs("y");

            OnnxModel at13 = convert(at6.build(), 13).output().onnxModel();

            float[] in = at6.feeds.get("x").toFloatArray();
            float[] out = run(at13, at6.feeds).get("y").toFloatArray();
            for (int i = 0; i < in.length; i++) {
                assertEquals(in[i] + b.toFloatArray()[(i / 4) % 3], out[i], 1e-5);
            }
            assertEquals(List.of("Unsqueeze", "Add"), opTypes(at13));
        }
    }
}
