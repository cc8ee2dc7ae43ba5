package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
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
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The decompositions of operators without an integer kernel compute what the operator does, on ONNX Runtime,
 * and the ranges derived for tensors that calibration does not measure (the parts' tensors, HardSwish's and
 * SiLU's outputs) are the ranges those tensors take.
 */
class DecompositionsTest {
    @TempDir
    static Path dir;
    private static InferenceService inference;
    private static Map<String, Tensor> feeds;
    private static Dataset calibration;

    @BeforeAll
    static void prepare() throws Exception {
        inference = PluginHarness.inference(dir.resolve("ort"));
        Tensor x = SampleData.randomImages(3, 16, 4, 8, 8);
        feeds = Map.of("x", x);
        Path file = dir.resolve("calibration.npz");
        Datasets.writeNpz(file, feeds);
        calibration = Datasets.open(file, "x");
    }

    /** x -> Conv (weights large enough that the activation sees -6..6) -> a -> the operator -> y -> Conv -> z. */
    private static OnnxModel model(String op, AttributeProto... attributes) {
        return model(List.of(OnnxHelper.node(op, List.of("a"), List.of("y"), attributes)));
    }

    /** The same with {@code activation} from a to y. */
    private static OnnxModel model(List<NodeProto> activation) {
        Random random = new Random(7);
        float[] w1 = new float[144];
        float[] w2 = new float[16];
        for (int i = 0; i < w1.length; i++) {
            w1[i] = (float) random.nextGaussian() * 1.5f;
        }
        for (int i = 0; i < w2.length; i++) {
            w2[i] = (float) random.nextGaussian() * 0.5f;
        }
        List<TensorProto> init = List.of(Tensor.ofFloats(new long[] {4, 4, 3, 3}, w1).toProto("w1"),
                Tensor.ofFloats(new long[] {4}, 0.5f, -1f, 0f, 2f).toProto("b1"),
                Tensor.ofFloats(new long[] {4, 4, 1, 1}, w2).toProto("w2"));
        List<NodeProto> nodes = new ArrayList<>();
        nodes.add(OnnxHelper.node("Conv", List.of("x", "w1", "b1"), List.of("a"), OnnxHelper.attr("pads", 1L, 1L, 1L, 1L)));
        nodes.addAll(activation);
        nodes.add(OnnxHelper.node("Conv", List.of("y", "w2"), List.of("z")));
        return OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("decompose-" + activation.get(0).getOpType(), nodes,
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, -1, 4, 8, 8)),
                List.of(OnnxHelper.valueInfo("z", DataType.FLOAT)), init), 17));
    }

    static Stream<OnnxModel> models() {
        return Stream.of(model("HardSwish"), model("HardSigmoid"),
                model("HardSigmoid", OnnxHelper.attr("alpha", 0.3f), OnnxHelper.attr("beta", 0.4f)));
    }

    private static Map<String, Tensor> run(OnnxModel model, List<String> outputs) {
        try (InferenceSession session = inference.open(model, SessionOptions.defaults())) {
            return session.run(feeds, outputs);
        }
    }

    private static TensorRange range(Tensor t) {
        float[] v = t.toFloatArray();
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        for (float f : v) {
            min = Math.min(min, f);
            max = Math.max(max, f);
        }
        return new TensorRange(min, max);
    }

    @ParameterizedTest
    @MethodSource("models")
    void theDecomposedModelComputesTheSameAndItsNewTensorsTakeTheDerivedRanges(OnnxModel model) {
        Decompositions.Result result = Decompositions.apply(model, node -> true);

        assertEquals(1, result.count());
        List<String> ops = result.model().graph().getNodeList().stream().map(NodeProto::getOpType).toList();
        assertFalse(ops.contains("HardSwish") || ops.contains("HardSigmoid"), ops.toString());
        float[] expected = run(model, List.of("z")).get("z").toFloatArray();
        float[] actual = run(result.model(), List.of("z")).get("z").toFloatArray();
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-4 * Math.max(1, Math.abs(expected[i])), "element " + i);
        }

        GraphEditor editor = GraphEditor.of(result.model().graph());
        List<String> fetched = new ArrayList<>(result.derived().keySet());
        fetched.remove("y");
        fetched.add("a");
        fetched.add("y");
        fetched.forEach(editor::addOutput);
        Map<String, Tensor> values = run(result.model().withGraph(editor.build()), fetched);
        TensorRange source = range(values.get("a"));
        assertTrue(source.min() < -3 && source.max() > 3, "the samples cross both bends: " + source);
        for (Map.Entry<String, DerivedRanges.Derived> e : result.derived().entrySet()) {
            assertEquals("a", e.getValue().source());
            TensorRange measured = range(values.get(e.getKey()));
            TensorRange derived = e.getValue().of(source);
            assertEquals(measured.max(), derived.max(), 1e-5, e.getKey() + " max");
            if (e.getValue() instanceof DerivedRanges.Dip) {
                // the function's minimum, where the samples' own may lie a little above it
                assertEquals(-0.375, derived.min(), 1e-9);
                assertTrue(measured.min() >= derived.min() && measured.min() < derived.min() + 0.01, "min " + measured);
            } else {
                assertEquals(measured.min(), derived.min(), 1e-5, e.getKey() + " min");
            }
        }
        assertEquals(List.of("a"),
                List.copyOf(new DerivedRanges(result.derived()).sources(result.derived().keySet())));
        assertEquals(model.graph().getNodeList().get(1).getOpType().equals("HardSwish"),
                result.derived().containsKey("y"), "HardSwish's own output is derived, HardSigmoid's is calibrated");
    }

    @Test
    void aSiluOutputsRangeFollowsFromItsInputs() {
        OnnxModel model = model(List.of(OnnxHelper.node("Sigmoid", List.of("a"), List.of("g")),
                OnnxHelper.node("Mul", List.of("g", "a"), List.of("y"))));

        Map<String, DerivedRanges.Derived> derived = DerivedRanges.gatedActivations(model);

        assertEquals(Map.of("y", new DerivedRanges.Dip("a", DerivedRanges.Activation.SILU)), derived);
        GraphEditor editor = GraphEditor.of(model.graph());
        editor.addOutput("a");
        editor.addOutput("y");
        Map<String, Tensor> values = run(model.withGraph(editor.build()), List.of("a", "y"));
        TensorRange source = range(values.get("a"));
        TensorRange measured = range(values.get("y"));
        TensorRange range = derived.get("y").of(source);
        assertTrue(source.min() < -1.28, "the samples cross the bend: " + source);
        assertEquals(measured.max(), range.max(), 1e-4 * measured.max());
        assertEquals(-0.27846, range.min(), 1e-5);
        assertTrue(measured.min() >= range.min() - 1e-6 && measured.min() < range.min() + 0.01, "min " + measured);
        assertTrue(DerivedRanges.gatedActivations(model("Sigmoid")).isEmpty(), "a sigmoid alone is no SiLU");
    }

    @Test
    void hardSwishWrittenAsAGatedMulTakesHardSwishsRange() {
        OnnxModel exported = model(List.of(OnnxHelper.node("HardSigmoid", List.of("a"), List.of("g"),
                        OnnxHelper.attr("alpha", 1f / 6), OnnxHelper.attr("beta", 0.5f)),
                OnnxHelper.node("Mul", List.of("a", "g"), List.of("y"))));
        OnnxModel otherGate = model(List.of(OnnxHelper.node("HardSigmoid", List.of("a"), List.of("g")),
                OnnxHelper.node("Mul", List.of("a", "g"), List.of("y"))));

        assertEquals(Map.of("y", new DerivedRanges.Dip("a", DerivedRanges.Activation.HARD_SWISH)),
                DerivedRanges.gatedActivations(exported));
        assertTrue(DerivedRanges.gatedActivations(otherGate).isEmpty(), "HardSigmoid's default slope 0.2 is no HardSwish");
        GraphEditor editor = GraphEditor.of(exported.graph());
        editor.addOutput("a");
        editor.addOutput("y");
        Map<String, Tensor> values = run(exported.withGraph(editor.build()), List.of("a", "y"));
        TensorRange range = new DerivedRanges.Dip("a", DerivedRanges.Activation.HARD_SWISH).of(range(values.get("a")));
        assertEquals(range(values.get("y")).max(), range.max(), 1e-4 * range.max());
    }

    @Test
    void aSlopeThatIsNotPositiveIsLeftWhole() {
        OnnxModel model = model("HardSigmoid", OnnxHelper.attr("alpha", -0.2f));

        Decompositions.Result result = Decompositions.apply(model, node -> true);

        assertEquals(0, result.count());
        assertTrue(result.model() == model);
    }

    @Test
    void quantizeStaticRunsHardSwishOnIntegersAndKeepsItWholeForSymmetricRanges() {
        OnnxModel model = model("HardSwish");
        PluginHarness harness = PluginHarness.of(new QuantizeStaticTransform()).data(DataRole.CALIBRATION, calibration);

        var asymmetric = harness.run("quantize-static", model, dir.resolve("asymmetric"));
        var symmetric = harness.run("quantize-static(symmetric-activations=true)", model, dir.resolve("symmetric"));

        assertEquals(1.0, asymmetric.steps().get(0).metrics().get("decomposed-activations"));
        List<String> ops = asymmetric.output().onnxModel().graph().getNodeList().stream().map(NodeProto::getOpType).toList();
        assertFalse(ops.contains("HardSwish"), ops.toString());
        assertEquals(0.0, symmetric.steps().get(0).metrics().get("decomposed-activations"));
        assertTrue(symmetric.output().onnxModel().graph().getNodeList().stream()
                .anyMatch(n -> n.getOpType().equals("HardSwish")), "a symmetric Clip would stay float");
    }
}
