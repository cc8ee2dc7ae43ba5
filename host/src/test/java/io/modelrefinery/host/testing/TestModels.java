package io.modelrefinery.host.testing;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.DatasetReader;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.DoubleUnaryOperator;
import java.util.function.Predicate;

import static io.modelrefinery.api.onnx.OnnxHelper.graph;
import static io.modelrefinery.api.onnx.OnnxHelper.model;
import static io.modelrefinery.api.onnx.OnnxHelper.node;
import static io.modelrefinery.api.onnx.OnnxHelper.valueInfo;

/** Models for host tests: the sample CNN and small generated ones. */
public final class TestModels {
    private TestModels() {
    }

    /** The project root, passed in by the build. */
    public static Path root() {
        return Path.of(System.getProperty("refinery.root", "."));
    }

    /** The seed article's CNN from {@code samples/}: input [n,28,28], output [n,1]. */
    public static Path sampleCnnFile() {
        return root().resolve("samples/seed_cnn_binary.onnx");
    }

    public static OnnxModel sampleCnn() throws IOException {
        return OnnxModel.load(sampleCnnFile());
    }

    /**
     * The same CNN trained on all ten Fashion-MNIST classes (bench/train-ten-class.sh), from {@code samples/}:
     * input [n,28,28], output [n,10] (softmax probabilities).
     */
    public static Path tenClassCnnFile() {
        return root().resolve("samples/seed_cnn_ten.onnx");
    }

    public static OnnxModel tenClassCnn() throws IOException {
        return OnnxModel.load(tenClassCnnFile());
    }

    /** {@code model} with each value of every float initializer whose name passes {@code which} mapped by {@code f}. */
    public static OnnxModel mapWeights(OnnxModel model, Predicate<String> which, DoubleUnaryOperator f) {
        GraphEditor editor = GraphEditor.of(model.graph());
        for (TensorProto init : model.graph().getInitializerList()) {
            if (which.test(init.getName()) && init.getDataType() == DataType.FLOAT.code()) {
                Tensor t = model.tensor(init);
                double[] values = t.toDoubleArray();
                for (int i = 0; i < values.length; i++) {
                    values[i] = f.applyAsDouble(values[i]);
                }
                editor.putInitializer(Tensor.fromDoubles(DataType.FLOAT, t.shape(), values).toProto(init.getName()));
            }
        }
        return model.withGraph(editor.build());
    }

    /**
     * The sample CNN {@code model} as a stand-in quantizer leaves it: its dense layer ruined (weights negated)
     * unless {@code excluded} names that layer's node, {@code /fc/Gemm}, and the convolutions untouched; so it
     * fails a quality gate until the dense layer is left in float.
     */
    public static OnnxModel denseLayerRuinedUnless(List<String> excluded, OnnxModel model) {
        return excluded.contains("/fc/Gemm") ? model : mapWeights(model, "fc.weight"::equals, w -> -w);
    }

    /** {@code value} as a float with all but {@code bits} of its 23 mantissa bits cleared: a lossy, well-zipping weight. */
    public static double keepMantissaBits(double value, int bits) {
        int raw = Float.floatToRawIntBits((float) value);
        return Float.intBitsToFloat(raw & (0xFFFFFFFF << (23 - bits)));
    }

    /**
     * 314 bytes on which ONNX Runtime 1.28 segfaults creating a session at the default (all) optimization level:
     * a float16 Transpose moving the leading axis into a MatMul, as in sequence-first attention
     * (docs/benchmarks.md, "The fp16 crash of sequence-first attention").
     */
    public static OnnxModel crashesOnnxRuntime() {
        double[] weights = new double[64];
        for (int i = 0; i < weights.length; i++) {
            weights[i] = (i % 7) / 7.0;
        }
        return OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("g", List.of(
                OnnxHelper.node("Cast", List.of("x"), List.of("h"), OnnxHelper.attr("to", (long) DataType.FLOAT16.code())),
                OnnxHelper.node("Transpose", List.of("h"), List.of("t"), OnnxHelper.attr("perm", 1L, 0L, 2L)),
                OnnxHelper.node("MatMul", List.of("t", "w"), List.of("m")),
                OnnxHelper.node("Cast", List.of("m"), List.of("y"), OnnxHelper.attr("to", (long) DataType.FLOAT.code()))),
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, 8, 2, 8)),
                List.of(ValueInfoProto.newBuilder().setName("y").build()),
                List.of(Tensor.fromDoubles(DataType.FLOAT16, new long[] {8, 8}, weights).toProto("w"))), 13));
    }

    /** y = relu(x W + b), x [n,4], W [4,3]. */
    public static OnnxModel mlp() {
        float[] w = new float[12];
        for (int i = 0; i < w.length; i++) {
            w[i] = (i - 6) * 0.25f;
        }
        return OnnxModel.of(model(graph("mlp",
                List.of(node("MatMul", List.of("x", "w"), List.of("mm")),
                        node("Add", List.of("mm", "b"), List.of("pre")),
                        node("Relu", List.of("pre"), List.of("y"))),
                List.of(valueInfo("x", DataType.FLOAT, -1, 4)),
                List.of(valueInfo("y", DataType.FLOAT, -1, 3)),
                List.of(Tensor.ofFloats(new long[] {4, 3}, w).toProto("w"),
                        Tensor.ofFloats(new long[] {3}, 0.5f, -0.5f, 1f).toProto("b"))), 17));
    }

    /** Every array of an {@code .npz} file whose arrays share their first dimension (a reference output file). */
    public static Map<String, Tensor> arrays(Path npz) {
        Dataset dataset = Datasets.open(npz, "array");
        try (DatasetReader reader = dataset.open()) {
            return reader.next(Math.toIntExact(dataset.size())).orElseThrow().arrays();
        }
    }

    /** Largest absolute difference between two float arrays of the same length. */
    public static double maxAbsDiff(float[] expected, float[] actual) {
        if (expected.length != actual.length) {
            throw new IllegalArgumentException(expected.length + " values against " + actual.length);
        }
        double max = 0;
        for (int i = 0; i < expected.length; i++) {
            max = Math.max(max, Math.abs((double) expected[i] - actual[i]));
        }
        return max;
    }

    /** Uniform random floats in [0, 1) of the given shape, from a fixed seed. */
    public static Tensor randomImages(long seed, long... shape) {
        Random random = new Random(seed);
        long count = 1;
        for (long d : shape) {
            count *= d;
        }
        float[] values = new float[(int) count];
        for (int i = 0; i < values.length; i++) {
            values[i] = random.nextFloat();
        }
        return Tensor.ofFloats(shape, values);
    }

    /**
     * The sample CNN computing the same output, plus ten 784x784 matrix products whose result is multiplied by
     * zero: as accurate, and many times slower.
     */
    public static OnnxModel slowedDown(OnnxModel model) {
        GraphEditor editor = GraphEditor.of(model.graph());
        NodeProto sigmoid = model.graph().getNodeList().stream().filter(n -> n.getOpType().equals("Sigmoid")).findFirst()
                .orElseThrow();
        editor.replaceNode(sigmoid, sigmoid.toBuilder().setOutput(0, "probability").build());
        float[] w = new float[784 * 784];
        for (int i = 0; i < w.length; i++) {
            w[i] = (i % 7) * 1e-3f;
        }
        editor.putInitializer(Tensor.ofFloats(new long[] {784, 784}, w).toProto("slow.w"));
        editor.putInitializer(Tensor.ofLongs(new long[] {2}, -1, 784).toProto("slow.shape"));
        editor.putInitializer(Tensor.scalar(0f).toProto("slow.zero"));
        editor.addNode(node("Reshape", List.of("input", "slow.shape"), List.of("slow.0")));
        for (int i = 0; i < 10; i++) {
            editor.addNode(node("MatMul", List.of("slow." + i, "slow.w"), List.of("slow." + (i + 1))));
        }
        editor.addNode(node("ReduceSum", List.of("slow.10"), List.of("slow.sum")));
        editor.addNode(node("Mul", List.of("slow.sum", "slow.zero"), List.of("slow.nothing")));
        editor.addNode(node("Add", List.of("probability", "slow.nothing"), List.of("output")));
        return model.withGraph(editor.build());
    }
}
