package io.modelrefinery.testkit;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;

import static io.modelrefinery.api.onnx.OnnxHelper.graph;
import static io.modelrefinery.api.onnx.OnnxHelper.model;
import static io.modelrefinery.api.onnx.OnnxHelper.node;
import static io.modelrefinery.api.onnx.OnnxHelper.valueInfo;

/** The models conformance cases run on by default: a small trained CNN and a tiny generated MLP; and the CNN's ten-class twin. */
public final class ConformanceModels {
    /** The sample model the host ships for {@code refinery demo}. */
    private static final String SAMPLE_CNN = "/io/modelrefinery/host/cli/samples/seed_cnn_binary.onnx";
    /** Its ten-class twin, which the kit's jar carries. */
    private static final String TEN_CLASS_CNN = "/io/modelrefinery/testkit/samples/seed_cnn_ten.onnx";

    private ConformanceModels() {
    }

    /**
     * The seed article's binary classifier, a trained CNN (Conv, MaxPool, Gemm; input {@code [n,28,28]},
     * output {@code [n,1]}), as the host jar carries it.
     */
    public static OnnxModel sampleCnn() {
        return resource(SAMPLE_CNN, "refinery-host");
    }

    /**
     * The same CNN trained on all ten Fashion-MNIST classes: input {@code [n,28,28]}, output {@code [n,10]}
     * (softmax probabilities); 88.78% on the test set ({@link io.modelrefinery.testdata.FashionMnist#tenClass}).
     */
    public static OnnxModel tenClassCnn() {
        return resource(TEN_CLASS_CNN, "refinery-plugin-testkit");
    }

    private static OnnxModel resource(String path, String jar) {
        try (InputStream in = ConformanceModels.class.getResourceAsStream(path)) {
            if (in == null) {
                throw new IllegalStateException("the sample model " + path + " is missing from " + jar);
            }
            return OnnxModel.parse(in.readAllBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code y = relu(x W + b)}: x {@code [n,4]}, W {@code [4,3]}, opset 17. */
    public static OnnxModel mlp() {
        float[] w = new float[12];
        for (int i = 0; i < w.length; i++) {
            w[i] = (i - 6) * 0.3f + 0.01f * i * i;
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
}
