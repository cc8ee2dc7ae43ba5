package io.modelrefinery.api.train;

import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.TypeProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;
import io.modelrefinery.host.ort.OrtRuntime;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every gradient rule and loss checked against central finite differences of the loss, both computed by
 * ONNX Runtime running the training graph: the analytic gradient is a graph output, the numeric one
 * comes from feeding perturbed parameters and inputs to the same session.
 */
class GradientCheckTest {
    @TempDir
    static Path dir;
    private static InferenceService ort;

    @BeforeAll
    static void runtime() {
        ort = new OrtRuntime().service(Device.CPU, dir.resolve("ort"));
    }

    /** A small model under test: nodes from input {@code x} to output {@code y}, random weights. */
    static final class Net {
        final long[] inputShape;
        final List<NodeProto> nodes = new ArrayList<>();
        final List<TensorProto> weights = new ArrayList<>();
        final Random random = new Random(7);
        long opset = 17;

        Net(long... inputShape) {
            this.inputShape = inputShape;
        }

        Net weight(String name, long... shape) {
            return weight(name, -1, 1, shape);
        }

        Net weight(String name, double low, double high, long... shape) {
            int n = (int) Arrays.stream(shape).reduce(1, (a, b) -> a * b);
            float[] v = new float[n];
            for (int i = 0; i < n; i++) {
                v[i] = (float) (low + (high - low) * random.nextDouble());
            }
            weights.add(Tensor.ofFloats(shape, v).toProto(name));
            return this;
        }

        Net node(String op, List<String> inputs, String output, AttributeProto... attributes) {
            nodes.add(OnnxHelper.node(op, inputs, List.of(output), attributes));
            return this;
        }

        Net opset(long value) {
            this.opset = value;
            return this;
        }

        OnnxModel model() {
            long[] in = inputShape.clone();
            in[0] = -1;
            return OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("net", nodes,
                    List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, in)),
                    List.of(untyped("y")), weights), opset));
        }
    }

    private static ValueInfoProto untyped(String name) {
        TypeProto.Builder type = TypeProto.newBuilder();
        type.getTensorTypeBuilder().setElemType(DataType.FLOAT.code());
        return ValueInfoProto.newBuilder().setName(name).setType(type).build();
    }

    static Stream<Arguments> ops() {
        return Stream.of(
                Arguments.of("Conv", new Net(2, 3, 5, 5).weight("w", 4, 3, 3, 3).weight("b", 4)
                        .node("Conv", List.of("x", "w", "b"), "y", attr("pads", 1L, 1L, 1L, 1L))),
                Arguments.of("Conv strided dilated", new Net(2, 2, 7, 6).weight("w", 3, 2, 3, 2).weight("b", 3)
                        .node("Conv", List.of("x", "w", "b"), "y", attr("strides", 2L, 2L), attr("dilations", 2L, 1L),
                                attr("pads", 1L, 0L, 0L, 1L))),
                Arguments.of("Conv grouped", new Net(2, 4, 5, 5).weight("w", 6, 2, 3, 3)
                        .node("Conv", List.of("x", "w"), "y", attr("group", 2L), attr("auto_pad", "SAME_UPPER"))),
                Arguments.of("Conv depthwise, channel multiplier 2", new Net(2, 3, 6, 6).weight("w", 6, 1, 3, 3).weight("b", 6)
                        .node("Conv", List.of("x", "w", "b"), "y", attr("group", 3L), attr("strides", 2L, 2L),
                                attr("pads", 1L, 1L, 1L, 1L))),
                Arguments.of("Clip (ReLU6)", new Net(2, 8).weight("s", -7.0, 7.0, 8)
                        .node("Constant", List.of(), "lo", attr("value", Tensor.scalar(0f).toProto("lo")))
                        .node("Constant", List.of(), "hi", attr("value", Tensor.scalar(6f).toProto("hi")))
                        .node("Mul", List.of("x", "s"), "m").node("Clip", List.of("m", "lo", "hi"), "y")),
                Arguments.of("Gemm transB, broadcast C", new Net(3, 4).weight("w", 5, 4).weight("c", 5)
                        .node("Gemm", List.of("x", "w", "c"), "y", attr("transB", 1L), attr("alpha", 0.5f))),
                Arguments.of("Gemm transA", new Net(4, 3).weight("w", 4, 2).weight("c", 3, 2)
                        .node("Gemm", List.of("x", "w", "c"), "y", attr("transA", 1L), attr("beta", 2f))),
                Arguments.of("MatMul batched", new Net(2, 3, 4).weight("w", 4, 5).weight("b", 5)
                        .node("MatMul", List.of("x", "w"), "m").node("Add", List.of("m", "b"), "y")),
                Arguments.of("Add Sub Mul Div broadcast", new Net(2, 3, 4, 4).weight("s", 1, 3, 1, 1).weight("b", 3, 1, 1)
                        .weight("d", 1.5, 2.5, 4)
                        .node("Mul", List.of("x", "s"), "m").node("Add", List.of("m", "b"), "a")
                        .node("Sub", List.of("a", "x"), "u").node("Div", List.of("u", "d"), "y")),
                Arguments.of("Relu", new Net(2, 6).weight("s", 6)
                        .node("Mul", List.of("x", "s"), "m").node("Relu", List.of("m"), "y")),
                Arguments.of("LeakyRelu", new Net(2, 6).weight("s", 6)
                        .node("Mul", List.of("x", "s"), "m").node("LeakyRelu", List.of("m"), "y", attr("alpha", 0.2f))),
                Arguments.of("Sigmoid", new Net(2, 6).weight("s", 6)
                        .node("Mul", List.of("x", "s"), "m").node("Sigmoid", List.of("m"), "y")),
                Arguments.of("Tanh", new Net(2, 6).weight("s", 6)
                        .node("Mul", List.of("x", "s"), "m").node("Tanh", List.of("m"), "y")),
                Arguments.of("Softmax", new Net(2, 3, 4).weight("s", 3, 4)
                        .node("Mul", List.of("x", "s"), "m").node("Softmax", List.of("m"), "y", attr("axis", 1L))),
                Arguments.of("LogSoftmax", new Net(2, 5).weight("s", 5)
                        .node("Mul", List.of("x", "s"), "m").node("LogSoftmax", List.of("m"), "y")),
                Arguments.of("MaxPool", new Net(2, 2, 6, 6).weight("s", 2, 1, 1)
                        .node("Mul", List.of("x", "s"), "m")
                        .node("MaxPool", List.of("m"), "y", attr("kernel_shape", 2L, 2L), attr("strides", 2L, 2L))),
                Arguments.of("MaxPool overlapping padded", new Net(2, 2, 7, 7).weight("s", 2, 1, 1)
                        .node("Mul", List.of("x", "s"), "m").node("MaxPool", List.of("m"), "y",
                                attr("kernel_shape", 3L, 3L), attr("strides", 2L, 2L), attr("pads", 1L, 1L, 1L, 1L))),
                Arguments.of("AveragePool", new Net(2, 2, 6, 6).weight("s", 2, 1, 1)
                        .node("Mul", List.of("x", "s"), "m")
                        .node("AveragePool", List.of("m"), "y", attr("kernel_shape", 2L, 2L), attr("strides", 2L, 2L))),
                Arguments.of("AveragePool padded, pads not counted", new Net(2, 2, 7, 7).weight("s", 2, 1, 1)
                        .node("Mul", List.of("x", "s"), "m").node("AveragePool", List.of("m"), "y",
                                attr("kernel_shape", 3L, 3L), attr("strides", 2L, 2L), attr("pads", 1L, 1L, 1L, 1L))),
                Arguments.of("AveragePool padded, pads counted", new Net(2, 2, 7, 7).weight("s", 2, 1, 1)
                        .node("Mul", List.of("x", "s"), "m").node("AveragePool", List.of("m"), "y",
                                attr("kernel_shape", 3L, 3L), attr("strides", 2L, 2L), attr("pads", 1L, 1L, 1L, 1L),
                                attr("count_include_pad", 1L))),
                Arguments.of("GlobalAveragePool", new Net(2, 3, 4, 5).weight("s", 3, 1, 1)
                        .node("Mul", List.of("x", "s"), "m").node("GlobalAveragePool", List.of("m"), "y")),
                Arguments.of("Flatten Reshape Transpose", new Net(2, 3, 2, 2).weight("w", 12, 4)
                        .node("Transpose", List.of("x"), "t", attr("perm", 0L, 2L, 3L, 1L))
                        .node("Flatten", List.of("t"), "f").node("MatMul", List.of("f", "w"), "m")
                        .node("Constant", List.of(), "s", attr("value", Tensor.ofLongs(new long[] {3}, -1, 2, 2).toProto("s")))
                        .node("Reshape", List.of("m", "s"), "y")),
                Arguments.of("Unsqueeze Identity Neg Dropout Squeeze", new Net(2, 3).weight("w", 3)
                        .node("Constant", List.of(), "axes", attr("value", Tensor.ofLongs(new long[] {1}, 1).toProto("axes")))
                        .node("Mul", List.of("x", "w"), "m").node("Unsqueeze", List.of("m", "axes"), "u")
                        .node("Identity", List.of("u"), "i").node("Neg", List.of("i"), "n")
                        .node("Dropout", List.of("n"), "d").node("Squeeze", List.of("d", "axes"), "y")),
                Arguments.of("BatchNormalization folded", batchNorm()),
                Arguments.of("BatchNormalization batch statistics", batchNorm()),
                Arguments.of("Concat", new Net(2, 2, 4, 4).weight("w", 3, 2, 1, 1).weight("s", 1, 2, 1, 1)
                        .node("Conv", List.of("x", "w"), "c").node("Mul", List.of("x", "s"), "m")
                        .node("Concat", List.of("c", "m", "x"), "y", attr("axis", 1L))));
    }

    private static Net batchNorm() {
        return new Net(4, 3, 3, 3).weight("w", 3, 3, 1, 1).weight("scale", 0.5, 1.5, 3).weight("bias", 3)
                .weight("mean", 3).weight("var", 0.5, 2, 3)
                .node("Conv", List.of("x", "w"), "c")
                .node("BatchNormalization", List.of("c", "scale", "bias", "mean", "var"), "y");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("ops")
    void gradientsMatchFiniteDifferences(String name, Net net) {
        TrainingOptions options = TrainingOptions.defaults().withInputGradients(List.of("x"))
                .withBatchNorm(name.contains("folded") ? TrainingOptions.BatchNormMode.FOLDED
                        : TrainingOptions.BatchNormMode.BATCH);
        int checked = check(net.model(), net.inputShape, Loss.meanSquaredError(), options);
        assertTrue(checked > 0);
    }

    static Stream<Arguments> losses() {
        Net multi = new Net(4, 3).weight("w", 3, 5).weight("b", 5)
                .node("Gemm", List.of("x", "w", "b"), "z").node("Softmax", List.of("z"), "y");
        Net logits = new Net(4, 3).weight("w", 3, 5).weight("b", 5).node("Gemm", List.of("x", "w", "b"), "y");
        Net binary = new Net(4, 3).weight("w", 3, 1).weight("b", 1)
                .node("Gemm", List.of("x", "w", "b"), "z").node("Sigmoid", List.of("z"), "y");
        return Stream.of(
                Arguments.of("cross-entropy over Softmax", multi, Loss.crossEntropy()),
                Arguments.of("cross-entropy over logits", logits, Loss.crossEntropy()),
                Arguments.of("binary cross-entropy over Sigmoid", binary, Loss.binaryCrossEntropy()),
                Arguments.of("KL divergence T=3, multi-class", multi, Loss.klDivergence(3)),
                Arguments.of("KL divergence T=2, binary", binary, Loss.klDivergence(2)),
                Arguments.of("distillation, binary", binary, Loss.distillation(Loss.binaryCrossEntropy(), 4, 0.7)),
                Arguments.of("mean squared error over Sigmoid", binary, Loss.meanSquaredError()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("losses")
    void lossGradientsMatchFiniteDifferences(String name, Net net, Loss loss) {
        assertTrue(check(net.model(), net.inputShape, loss, TrainingOptions.defaults()) > 0);
    }

    @Test
    void lossValuesMatchTheirDefinitions() {
        Net binary = new Net(4, 3).weight("w", 3, 1).weight("b", 1)
                .node("Gemm", List.of("x", "w", "b"), "z").node("Sigmoid", List.of("z"), "y");
        OnnxModel model = binary.model();
        Map<String, Tensor> inputs = Map.of("x", random(new long[] {4, 3}, 3));
        float[] z = run(model, inputs, "z");
        float[] p = {0.1f, 0.9f, 0.4f, 0.7f};
        double bce = 0;
        double kl = 0;
        double temperature = 2;
        for (int i = 0; i < 4; i++) {
            double s = 1 / (1 + Math.exp(-z[i]));
            bce += -(p[i] * Math.log(s) + (1 - p[i]) * Math.log(1 - s)) / 4;
            double q = 1 / (1 + Math.exp(-z[i] / temperature));
            kl += temperature * temperature * (p[i] * Math.log(p[i] / q) + (1 - p[i]) * Math.log((1 - p[i]) / (1 - q))) / 4;
        }
        Tensor target = Tensor.ofFloats(new long[] {4, 1}, p);
        assertEquals(bce, loss(model, Loss.binaryCrossEntropy(), inputs, Map.of(Loss.TARGET, target)), 1e-5);
        assertEquals(kl, loss(model, Loss.klDivergence(temperature), inputs, Map.of(Loss.SOFT_TARGET, target)), 1e-5);
    }

    @Test
    void anOperatorWithoutRuleOnThePathIsNamed() {
        Net net = new Net(2, 4).weight("w", 4, 3).node("MatMul", List.of("x", "w"), "m").node("Cos", List.of("m"), "y");
        OnnxModel model = net.model();
        NoGradientRuleException e = assertThrows(NoGradientRuleException.class,
                () -> TrainingGraph.build(model, ort.valueTypes(model), Loss.meanSquaredError(), TrainingOptions.defaults()));
        assertEquals("Cos", e.opType());
        assertTrue(e.getMessage().startsWith("no gradient rule for operator Cos (Cos node 'y_Cos') between"), e.getMessage());
    }

    @Test
    void operatorsOffThePathNeedNoRule() {
        // Shape/Cast/ConstantOfShape compute a mask from the input only: no gradient flows through them.
        Net net = new Net(2, 4).weight("w", 4, 3)
                .node("Shape", List.of("x"), "s").node("Cos", List.of("x"), "cx")
                .node("MatMul", List.of("x", "w"), "m").node("MatMul", List.of("cx", "w"), "m2")
                .node("Add", List.of("m", "m2"), "y");
        OnnxModel model = net.model();
        TrainingGraph graph = TrainingGraph.build(model, ort.valueTypes(model), Loss.meanSquaredError(), TrainingOptions.defaults());
        assertEquals(List.of("w"), List.copyOf(graph.parameters().keySet()));
    }

    // ---------------------------------------------------------------- machinery

    private static Tensor random(long[] shape, long seed) {
        Random r = new Random(seed);
        float[] v = new float[(int) Arrays.stream(shape).reduce(1, (a, b) -> a * b)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (r.nextGaussian());
        }
        return Tensor.ofFloats(shape, v);
    }

    private static float[] run(OnnxModel model, Map<String, Tensor> inputs, String output) {
        var editor = io.modelrefinery.api.onnx.GraphEditor.of(model.graph()).addOutput(output);
        try (InferenceSession s = ort.open(model.withGraph(editor.build()))) {
            return s.run(inputs, List.of(output)).get(output).toFloatArray();
        }
    }

    private static double loss(OnnxModel model, Loss loss, Map<String, Tensor> inputs, Map<String, Tensor> targets) {
        TrainingGraph graph = TrainingGraph.build(model, ort.valueTypes(model), loss, TrainingOptions.defaults());
        Map<String, Tensor> feeds = new LinkedHashMap<>(inputs);
        feeds.putAll(graph.parameters());
        feeds.putAll(targets);
        try (InferenceSession s = ort.open(graph.model())) {
            return s.run(feeds, List.of(TrainingGraph.LOSS)).get(TrainingGraph.LOSS).getDouble(0);
        }
    }

    /** Targets in the loss's range: probabilities for classification terms, any values for MSE. */
    private static Tensor target(String name, long[] shape, Loss loss, long seed) {
        long[] dims = shape.clone();
        Random r = new Random(seed);
        int n = (int) Arrays.stream(dims).reduce(1, (a, b) -> a * b);
        float[] v = new float[n];
        boolean probabilities = loss.terms().stream().anyMatch(t -> t.target().equals(name)
                && t.kind() != Loss.Kind.MEAN_SQUARED_ERROR);
        int classes = (int) dims[dims.length - 1];
        for (int i = 0; i < n; i++) {
            v[i] = probabilities ? (float) r.nextDouble() : (float) r.nextGaussian();
        }
        if (probabilities && classes > 1) {
            for (int row = 0; row < n / classes; row++) {
                float sum = 0;
                for (int k = 0; k < classes; k++) {
                    sum += v[row * classes + k];
                }
                for (int k = 0; k < classes; k++) {
                    v[row * classes + k] /= sum;
                }
            }
        }
        return Tensor.ofFloats(dims, v);
    }

    /** Compares analytic and numeric gradients at a few positions of every parameter and of x; returns how many. */
    private static int check(OnnxModel model, long[] inputShape, Loss loss, TrainingOptions options) {
        TrainingGraph graph = TrainingGraph.build(model, ort.valueTypes(model), loss, options);
        Map<String, Tensor> feeds = new LinkedHashMap<>();
        feeds.put("x", random(inputShape, 11));
        feeds.putAll(graph.parameters());
        long seed = 100;
        for (var t : graph.targets().entrySet()) {
            long[] shape = t.getValue().clone();
            shape[0] = inputShape[0];
            if (graph.loss().terms().stream().allMatch(term -> term.kind() == Loss.Kind.MEAN_SQUARED_ERROR)) {
                shape = outputShape(model, feeds);
            }
            feeds.put(t.getKey(), target(t.getKey(), shape, loss, seed++));
        }
        Map<String, String> gradients = new LinkedHashMap<>();
        for (String p : graph.parameters().keySet()) {
            gradients.put(p, graph.gradientOutput(p));
        }
        gradients.putAll(graph.inputGradientOutputs());
        int checked = 0;
        try (InferenceSession session = ort.open(graph.model())) {
            List<String> outputs = new ArrayList<>(gradients.values());
            outputs.add(TrainingGraph.LOSS);
            Map<String, Tensor> result = session.run(feeds, outputs);
            Random pick = new Random(3);
            for (var g : gradients.entrySet()) {
                float[] analytic = result.get(g.getValue()).toFloatArray();
                Tensor base = feeds.get(g.getKey());
                float[] values = base.toFloatArray();
                assertEquals(values.length, analytic.length, "gradient shape of " + g.getKey());
                for (int k = 0; k < Math.min(6, values.length); k++) {
                    int i = k == 0 ? 0 : pick.nextInt(values.length);
                    double eps = 1e-2;
                    double up = lossWith(session, feeds, g.getKey(), base, values, i, eps);
                    double down = lossWith(session, feeds, g.getKey(), base, values, i, -eps);
                    double numeric = (up - down) / (2 * eps);
                    double tolerance = 2e-3 + 2e-2 * Math.max(Math.abs(numeric), Math.abs(analytic[i]));
                    assertEquals(numeric, analytic[i], tolerance, "d loss / d " + g.getKey() + "[" + i + "]");
                    checked++;
                }
            }
        }
        return checked;
    }

    private static long[] outputShape(OnnxModel model, Map<String, Tensor> feeds) {
        Map<String, Tensor> inputs = Map.of("x", feeds.get("x"));
        Map<String, Tensor> weights = new LinkedHashMap<>(inputs);
        try (InferenceSession s = ort.open(model)) {
            return s.run(weights).get("y").shape();
        }
    }

    private static double lossWith(InferenceSession session, Map<String, Tensor> feeds, String name, Tensor base,
                                   float[] values, int index, double delta) {
        float[] changed = values.clone();
        changed[index] += (float) delta;
        Map<String, Tensor> perturbed = new LinkedHashMap<>(feeds);
        perturbed.put(name, Tensor.ofFloats(base.shape(), changed));
        return session.run(perturbed, List.of(TrainingGraph.LOSS)).get(TrainingGraph.LOSS).getDouble(0);
    }
}
