package io.modelrefinery.testkit;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;
import static io.modelrefinery.api.onnx.OnnxHelper.node;

/**
 * Generated convolutional networks with random weights, for tests and benchmarks that need more than the
 * sample model: MobileNetV2's shape (inverted residual blocks of 1x1 expansion, 3x3 depthwise and 1x1
 * projection convolutions with ReLU6, residual adds, global average pooling, a classifier, softmax),
 * with BatchNorm folded into the convolutions as exported models have it.
 */
public final class ConvNets {
    /** MobileNetV2's blocks: expansion t, output channels c, repeats n, first stride s. */
    private static final int[][] MOBILENET_V2 = {
            {1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};

    private ConvNets() {
    }

    /** Full MobileNetV2 on 224x224x3 with 1,000 classes: about 3.5 M parameters. */
    public static OnnxModel mobileNetV2(long seed) {
        return mobileNet(seed, 1.0, 224, MOBILENET_V2.length, 1000);
    }

    /** A small network of the same kind, fast enough for unit tests: 32x32 input, the first blocks, narrow. */
    public static OnnxModel smallMobileNet(long seed) {
        return mobileNet(seed, 0.35, 32, 4, 10);
    }

    /**
     * A MobileNetV2-shaped network.
     *
     * @param width channel multiplier
     * @param resolution input height and width
     * @param stages how many of MobileNetV2's seven block groups to include
     * @param classes classifier outputs
     */
    public static OnnxModel mobileNet(long seed, double width, int resolution, int stages, int classes) {
        Builder b = new Builder(new Random(seed));
        String x = b.conv("input", 3, channels(32, width), 3, 2, 1, true);
        int in = channels(32, width);
        for (int s = 0; s < stages; s++) {
            int[] block = MOBILENET_V2[s];
            int out = channels(block[1], width);
            for (int r = 0; r < block[2]; r++) {
                int stride = r == 0 ? block[3] : 1;
                String start = x;
                int hidden = in * block[0];
                String h = block[0] == 1 ? x : b.conv(x, in, hidden, 1, 1, 1, true);
                h = b.conv(h, hidden, hidden, 3, stride, hidden, true);
                h = b.conv(h, hidden, out, 1, 1, 1, false);
                x = stride == 1 && in == out ? b.add(start, h) : h;
                in = out;
            }
        }
        int last = width >= 1 ? 1280 : channels(320, width);
        x = b.conv(x, in, last, 1, 1, 1, true);
        b.nodes.add(node("GlobalAveragePool", List.of(x), List.of("pooled")));
        b.nodes.add(node("Flatten", List.of("pooled"), List.of("features")));
        b.nodes.add(node("Gemm", List.of("features", b.weight("fc.w", classes, last), b.bias("fc.b", classes)),
                List.of("logits"), attr("transB", 1L)));
        b.nodes.add(node("Softmax", List.of("logits"), List.of("probabilities"), attr("axis", 1L)));
        return OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("mobilenet", b.nodes,
                List.of(OnnxHelper.valueInfo("input", DataType.FLOAT, -1, 3, resolution, resolution)),
                List.of(OnnxHelper.valueInfo("probabilities", DataType.FLOAT, -1, classes)), b.initializers), 17));
    }

    private static int channels(int c, double width) {
        return Math.max(8, (int) Math.round(c * width / 8.0) * 8);
    }

    /** Accumulates nodes and initializers with unique names. */
    private static final class Builder {
        final Random random;
        final List<NodeProto> nodes = new ArrayList<>();
        final List<TensorProto> initializers = new ArrayList<>();
        int count;

        Builder(Random random) {
            this.random = random;
        }

        /** Conv (+ReLU6 as Clip(0, 6)); He-initialized weights, small biases. */
        String conv(String input, int in, int out, int kernel, int stride, int group, boolean relu6) {
            String name = "conv" + (++count);
            int perGroup = in / group;
            String w = weight(name + ".w", out, perGroup, kernel, kernel);
            String bias = bias(name + ".b", out);
            int pad = kernel / 2;
            nodes.add(node("Conv", List.of(input, w, bias), List.of(name), attr("kernel_shape", (long) kernel, kernel),
                    attr("strides", (long) stride, stride), attr("pads", (long) pad, pad, pad, pad),
                    attr("group", (long) group)));
            if (!relu6) {
                return name;
            }
            nodes.add(node("Clip", List.of(name, "relu6.min", "relu6.max"), List.of(name + ".relu6")));
            if (initializers.stream().noneMatch(t -> t.getName().equals("relu6.min"))) {
                initializers.add(Tensor.scalar(0f).toProto("relu6.min"));
                initializers.add(Tensor.scalar(6f).toProto("relu6.max"));
            }
            return name + ".relu6";
        }

        String add(String a, String b) {
            String name = "add" + (++count);
            nodes.add(node("Add", List.of(a, b), List.of(name)));
            return name;
        }

        String weight(String name, long... dims) {
            long fanIn = 1;
            long count = 1;
            for (int i = 0; i < dims.length; i++) {
                count *= dims[i];
                if (i > 0) {
                    fanIn *= dims[i];
                }
            }
            float[] values = new float[(int) count];
            double std = Math.sqrt(2.0 / fanIn);
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) (random.nextGaussian() * std);
            }
            initializers.add(Tensor.ofFloats(dims, values).toProto(name));
            return name;
        }

        String bias(String name, int n) {
            float[] values = new float[n];
            for (int i = 0; i < n; i++) {
                values[i] = (float) (random.nextGaussian() * 0.05);
            }
            initializers.add(Tensor.ofFloats(new long[] {n}, values).toProto(name));
            return name;
        }
    }
}
