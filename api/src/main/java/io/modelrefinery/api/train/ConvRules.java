package io.modelrefinery.api.train;

import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;

/** Gradient rules of convolutions and pooling. */
final class ConvRules {
    private ConvRules() {
    }

    /** Window geometry of a convolution or pooling node, with auto_pad resolved to explicit pads. */
    private record Window(long[] in, long[] out, long[] kernel, long[] strides, long[] dilations, long[] pads) {
        int spatial() {
            return in.length;
        }

        /** ConvTranspose's output_padding that maps {@code out} back to exactly {@code in}. */
        long[] outputPadding(GradientContext c) {
            long[] padding = new long[spatial()];
            for (int i = 0; i < padding.length; i++) {
                long covered = (out[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1
                        - pads[i] - pads[i + spatial()];
                padding[i] = in[i] - covered;
                if (padding[i] < 0) {
                    throw c.refuse("unexpected window geometry along spatial axis " + i);
                }
            }
            return padding;
        }
    }

    private static Window window(GradientContext c, long[] kernel) {
        long[] xs = c.staticShape(c.input(0), 1);
        long[] ys = c.staticShape(c.output(0), 1);
        int n = xs.length - 2;
        long[] in = Arrays.copyOfRange(xs, 2, xs.length);
        long[] out = Arrays.copyOfRange(ys, 2, ys.length);
        long[] ones = new long[n];
        Arrays.fill(ones, 1);
        long[] strides = c.attrInts("strides", ones);
        long[] dilations = c.attrInts("dilations", ones);
        long[] pads = c.attrInts("pads", new long[2 * n]);
        String autoPad = c.attrString("auto_pad", "NOTSET");
        if (autoPad.equals("VALID")) {
            pads = new long[2 * n];
        } else if (autoPad.startsWith("SAME")) {
            pads = new long[2 * n];
            for (int i = 0; i < n; i++) {
                long total = Math.max(0, (out[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - in[i]);
                long small = total / 2;
                pads[i] = autoPad.equals("SAME_UPPER") ? small : total - small;
                pads[i + n] = total - pads[i];
            }
        }
        return new Window(in, out, kernel, strides, dilations, pads);
    }

    private static long[] spatialAxes(int rank, boolean withBatch) {
        List<Long> axes = new ArrayList<>();
        if (withBatch) {
            axes.add(0L);
        }
        for (int i = 2; i < rank; i++) {
            axes.add((long) i);
        }
        return axes.stream().mapToLong(Long::longValue).toArray();
    }

    /** {@code [1, 0, 2, 3, ...]}: swaps the first two axes. */
    private static long[] swapFirstTwo(int rank) {
        long[] perm = new long[rank];
        for (int i = 0; i < rank; i++) {
            perm[i] = i;
        }
        perm[0] = 1;
        perm[1] = 0;
        return perm;
    }

    static void conv(GradientContext c) {
        String x = c.input(0);
        String w = c.input(1);
        String dy = c.outputGradient(0);
        long[] ws = c.staticShape(w, 0);
        long[] kernel = Arrays.copyOfRange(ws, 2, ws.length);
        Window g = window(c, kernel);
        long group = c.attrInt("group", 1);
        int rank = ws.length;
        if (c.needsGradient(2)) {
            c.setInputGradient(2, c.reduceSum(dy, spatialAxes(rank, true), false));
        }
        if (c.needsGradient(0)) {
            c.setInputGradient(0, c.emit("ConvTranspose", dy, w, attr("strides", g.strides()),
                    attr("dilations", g.dilations()), attr("pads", g.pads()), attr("group", group),
                    attr("output_padding", g.outputPadding(c))));
        }
        if (c.needsGradient(1) && group > 1 && ws[1] == 1) {
            c.setInputGradient(1, depthwiseWeightGradient(c, x, dy, g, ws, group));
        } else if (c.needsGradient(1)) {
            long outPerGroup = ws[0] / group;
            long inPerGroup = ws[1];
            List<String> parts = new ArrayList<>();
            for (long gi = 0; gi < group; gi++) {
                String xg = group == 1 ? x : c.emit("Slice", List.of(x, c.longs(gi * inPerGroup),
                        c.longs((gi + 1) * inPerGroup), c.longs(1)));
                String dyg = group == 1 ? dy : c.emit("Slice", List.of(dy, c.longs(gi * outPerGroup),
                        c.longs((gi + 1) * outPerGroup), c.longs(1)));
                parts.add(weightGradient(c, xg, dyg, g, rank));
            }
            c.setInputGradient(1, parts.size() == 1 ? parts.get(0) : c.emit("Concat", parts, attr("axis", 0L)));
        }
    }

    /**
     * dW[m, c, k] = sum over n and output positions of dY[n, m, o] * X[n, c, o * stride + k * dilation]:
     * a convolution of X (channels as the batch) with dY (samples as the channels) in which stride and
     * dilation trade places, cut to the kernel size.
     */
    private static String weightGradient(GradientContext c, String x, String dy, Window g, int rank) {
        long[] perm = swapFirstTwo(rank);
        String xt = c.emit("Transpose", x, attr("perm", perm));
        String dyt = c.emit("Transpose", dy, attr("perm", perm));
        String z = c.emit("Conv", xt, dyt, attr("strides", g.dilations()), attr("dilations", g.strides()),
                attr("pads", g.pads()));
        int n = g.spatial();
        boolean cut = false;
        for (int i = 0; i < n; i++) {
            long produced = (g.in()[i] + g.pads()[i] + g.pads()[i + n] - ((g.out()[i] - 1) * g.strides()[i] + 1))
                    / g.dilations()[i] + 1;
            cut |= produced != g.kernel()[i];
        }
        if (cut) {
            long[] starts = new long[n];
            long[] axes = new long[n];
            for (int i = 0; i < n; i++) {
                axes[i] = i + 2;
            }
            z = c.emit("Slice", List.of(z, c.longs(starts), c.longs(g.kernel()), c.longs(axes)));
        }
        return c.emit("Transpose", z, attr("perm", perm));
    }

    /**
     * Depthwise convolutions (one input channel per group) in one node: with X as [1, C*N, H, W] (channel c,
     * sample n at c*N + n) and dY as weights [M, N, OH, OW], a convolution of C groups sums over the samples
     * for every output channel at once.
     */
    private static String depthwiseWeightGradient(GradientContext c, String x, String dy, Window g, long[] ws, long group) {
        int rank = ws.length;
        long[] perm = swapFirstTwo(rank);
        long[] flat = new long[rank];
        flat[0] = 1;
        flat[1] = -1;
        for (int i = 2; i < rank; i++) {
            flat[i] = g.in()[i - 2];
        }
        String xt = c.emit("Reshape", c.emit("Transpose", x, attr("perm", perm)), c.longs(flat));
        String dyt = c.emit("Transpose", dy, attr("perm", perm));
        String z = c.emit("Conv", xt, dyt, attr("strides", g.dilations()), attr("dilations", g.strides()),
                attr("pads", g.pads()), attr("group", group));
        int n = g.spatial();
        long[] starts = new long[n];
        long[] axes = new long[n];
        for (int i = 0; i < n; i++) {
            axes[i] = i + 2;
        }
        z = c.emit("Slice", List.of(z, c.longs(starts), c.longs(g.kernel()), c.longs(axes)));
        return c.emit("Reshape", z, c.longs(ws));
    }

    static void maxPool(GradientContext c) {
        if (c.attrInt("storage_order", 0) != 0) {
            throw c.refuse("MaxPool with storage_order=1 has no gradient rule");
        }
        if (c.opset() < 16) {
            throw c.refuse("the MaxPool gradient needs opset 16 or later (ScatterElements with reduction), the model"
                    + " has " + c.opset() + "; convert it with opset(target=17) first");
        }
        String x = c.input(0);
        String indices = c.forwardOutput(1, c.output(0) + "_indices");
        String flatSize = c.emit("ReduceProd", c.shapeOf(x), attr("keepdims", 1L));
        String zeros = c.emit("ConstantOfShape", flatSize,
                attr("value", Tensor.ofFloats(new long[] {1}, 0f).toProto("zero")));
        String flatIndices = c.emit("Reshape", indices, c.longs(-1));
        String flatGrad = c.emit("Reshape", c.outputGradient(0), c.longs(-1));
        String scattered = c.emit("ScatterElements", List.of(zeros, flatIndices, flatGrad), attr("axis", 0L),
                attr("reduction", "add"));
        c.setInputGradient(0, c.reshapeLike(scattered, x));
    }

    static void averagePool(GradientContext c) {
        String x = c.input(0);
        long[] xs = c.staticShape(x, 1);
        long[] kernel = c.attrInts("kernel_shape", null);
        if (kernel == null) {
            throw c.refuse("AveragePool without kernel_shape");
        }
        Window g = window(c, kernel);
        long channels = xs[1];
        long windowSize = 1;
        for (long k : kernel) {
            windowSize *= k;
        }
        boolean padded = Arrays.stream(g.pads()).anyMatch(p -> p != 0) || c.attrInt("ceil_mode", 0) != 0;
        String dy = c.outputGradient(0);
        String scaled;
        if (!padded || c.attrInt("count_include_pad", 0) != 0) {
            scaled = c.mul(dy, c.scalar(1f / windowSize));
        } else {
            // Each window divides by the number of real (unpadded) inputs it covers: pool a tensor of
            // ones counting padding, which gives that number over the window size.
            String ones = c.emit("ConstantOfShape", c.shapeOf(x),
                    attr("value", Tensor.ofFloats(new long[] {1}, 1f).toProto("one")));
            List<AttributeProto> attributes = new ArrayList<>(c.node().getAttributeList().stream()
                    .filter(a -> !a.getName().equals("count_include_pad")).toList());
            attributes.add(attr("count_include_pad", 1L));
            String share = c.emit("AveragePool", List.of(ones), attributes.toArray(new AttributeProto[0]));
            scaled = c.emit("Div", dy, c.mul(share, c.scalar(windowSize)));
        }
        float[] ones = new float[(int) (channels * windowSize)];
        Arrays.fill(ones, 1f);
        long[] kshape = new long[kernel.length + 2];
        kshape[0] = channels;
        kshape[1] = 1;
        System.arraycopy(kernel, 0, kshape, 2, kernel.length);
        String weights = c.floats(kshape, ones);
        c.setInputGradient(0, c.emit("ConvTranspose", scaled, weights, attr("strides", g.strides()),
                attr("dilations", g.dilations()), attr("pads", g.pads()), attr("group", channels),
                attr("output_padding", g.outputPadding(c))));
    }

    static void globalAveragePool(GradientContext c) {
        String x = c.input(0);
        long[] xs = c.staticShape(x, 2);
        long count = 1;
        for (int i = 2; i < xs.length; i++) {
            count *= xs[i];
        }
        String scaled = c.mul(c.outputGradient(0), c.scalar(1f / count));
        c.setInputGradient(0, c.emit("Expand", scaled, c.shapeOf(x)));
    }

}
