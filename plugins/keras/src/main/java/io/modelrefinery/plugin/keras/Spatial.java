package io.modelrefinery.plugin.keras;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.plugin.convert.ChannelsLastGraph;
import io.modelrefinery.plugin.convert.ChannelsLastGraph.Value;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;

/**
 * Operations over the spatial axes of 1-D, 2-D and 3-D data (convolutions, pooling, resizing, cropping,
 * padding), for either Keras data format. They run on channels-first data as ONNX defines them; a
 * channels-last layer's input is brought there by the graph (one Transpose, shared by the layers that
 * follow) and its output stays there until a layer needs another layout. A channels-first layer (a
 * Theano-ordered model) reads and writes its data as it is.
 */
final class Spatial {
    private final ChannelsLastGraph graph;

    Spatial(ChannelsLastGraph graph) {
        this.graph = graph;
    }

    /** Keras's padding of a convolution or pool. */
    enum Padding {
        VALID, SAME, CAUSAL;

        static Padding of(Config c, boolean causalAllowed) {
            String p = c.string("padding", "valid").toLowerCase(java.util.Locale.ROOT);
            return switch (p) {
                case "valid" -> VALID;
                case "same" -> SAME;
                case "causal" -> {
                    if (!causalAllowed) {
                        throw new InvalidInputException("causal padding is only defined for 1-D convolutions");
                    }
                    yield CAUSAL;
                }
                default -> throw new InvalidInputException("padding '" + p + "' is not supported");
            };
        }
    }

    /** Whether a layer's {@code data_format} is channels first. */
    static boolean channelsFirst(Config c) {
        String format = c.string("data_format", "channels_last");
        return switch (format) {
            case "channels_last" -> false;
            case "channels_first" -> true;
            default -> throw new InvalidInputException("data_format '" + format + "' is not supported");
        };
    }

    /** The layer's input as channels-first data {@code [n, c, d...]}. */
    Value in(Value x, boolean channelsFirst) {
        if (x.rank() < 3) {
            throw new InvalidInputException("needs an input with spatial axes, gets " + x);
        }
        return channelsFirst ? x : graph.channelsFirstData(x);
    }

    /** Channels-first data {@code [n, c, d...]} as the layer's output in its data format. */
    Value out(Value data, boolean channelsFirst) {
        return channelsFirst ? data : graph.channelsFirstView(data);
    }

    /**
     * A convolution.
     *
     * @param kernel in ONNX's layout, {@code [out, in / groups, k...]}
     * @param bias {@code [out]} or null
     */
    Value conv(Value x, boolean channelsFirst, Tensor kernel, Tensor bias, int[] strides, int[] dilations,
               Padding padding, int groups, String hint) {
        Value data = in(x, channelsFirst);
        int spatial = data.rank() - 2;
        long[] k = kernel.shape();
        if (k.length != spatial + 2) {
            throw new InvalidInputException("kernel " + Arrays.toString(k) + " does not fit a " + spatial
                    + "-D convolution of " + x);
        }
        if (data.dim(1) >= 0 && data.dim(1) != k[1] * groups) {
            throw new InvalidInputException("convolution expects " + k[1] * groups + " input channels, gets "
                    + data.dim(1));
        }
        int[] kernelSize = new int[spatial];
        for (int i = 0; i < spatial; i++) {
            kernelSize[i] = (int) k[i + 2];
        }
        List<String> inputs = new ArrayList<>(List.of(graph.frameworkData(data), graph.constant(kernel, hint + "_kernel")));
        if (bias != null) {
            inputs.add(graph.constant(bias, hint + "_bias"));
        }
        List<AttributeProto> attrs = new ArrayList<>(List.of(attr("kernel_shape", longs(kernelSize)),
                attr("strides", longs(strides)), attr("dilations", longs(dilations)), attr("group", (long) groups)));
        long[] shape = windowed(data, kernelSize, strides, dilations, padding, k[0], attrs);
        Value y = graph.operator("Conv", inputs, data.type(), List.of(shape), hint, attrs.toArray(AttributeProto[]::new))
                .get(0);
        return out(y, channelsFirst);
    }

    /** {@code MaxPool} or {@code AveragePool}; padding never counts in an average, as in TensorFlow. */
    Value pool(String opType, Value x, boolean channelsFirst, int[] size, int[] strides, Padding padding, String hint) {
        Value data = in(x, channelsFirst);
        int[] ones = new int[size.length];
        Arrays.fill(ones, 1);
        List<AttributeProto> attrs = new ArrayList<>(List.of(attr("kernel_shape", longs(size)),
                attr("strides", longs(strides))));
        long[] shape = windowed(data, size, strides, ones, padding, data.dim(1), attrs);
        Value y = graph.operator(opType, List.of(graph.frameworkData(data)), data.type(), List.of(shape), hint,
                attrs.toArray(AttributeProto[]::new)).get(0);
        return out(y, channelsFirst);
    }

    /** {@code GlobalAveragePool} or {@code GlobalMaxPool}: {@code [n, c]}, or with {@code keepDims} ones for the spatial axes. */
    Value globalPool(String opType, Value x, boolean channelsFirst, boolean keepDims, String hint) {
        Value data = in(x, channelsFirst);
        long[] pooled = data.shape();
        Arrays.fill(pooled, 2, pooled.length, 1);
        Value y = graph.operator(opType, List.of(graph.frameworkData(data)), data.type(), List.of(pooled),
                keepDims ? hint : hint + "_pooled").get(0);
        if (keepDims) {
            return out(y, channelsFirst);
        }
        return graph.operator("Flatten", List.of(graph.frameworkData(y)), data.type(),
                List.of(new long[] {data.dim(0), data.dim(1)}), hint, attr("axis", 1L)).get(0);
    }

    /** {@code Resize} of the spatial axes by whole factors. */
    Value resize(Value x, boolean channelsFirst, int[] factors, String mode, String coordinates, String hint) {
        Value data = in(x, channelsFirst);
        float[] scales = new float[data.rank()];
        long[] shape = data.shape();
        scales[0] = 1;
        scales[1] = 1;
        for (int i = 0; i < factors.length; i++) {
            scales[i + 2] = factors[i];
            shape[i + 2] = shape[i + 2] < 0 ? -1 : shape[i + 2] * factors[i];
        }
        List<AttributeProto> attrs = new ArrayList<>(List.of(attr("mode", mode),
                attr("coordinate_transformation_mode", coordinates)));
        if (mode.equals("nearest")) {
            attrs.add(attr("nearest_mode", "floor"));
        }
        String scaleName = graph.constant(Tensor.ofFloats(new long[] {scales.length}, scales), hint + "_scales");
        Value y = graph.operator("Resize", List.of(graph.frameworkData(data), "", scaleName), data.type(),
                List.of(shape), hint, attrs.toArray(AttributeProto[]::new)).get(0);
        return out(y, channelsFirst);
    }

    /** The spatial axes cropped by {@code crop[axis] = {before, after}}. */
    Value crop(Value x, boolean channelsFirst, int[][] crop, String hint) {
        Value data = in(x, channelsFirst);
        int spatial = crop.length;
        long[] starts = new long[spatial];
        long[] ends = new long[spatial];
        long[] axes = new long[spatial];
        long[] shape = data.shape();
        for (int i = 0; i < spatial; i++) {
            starts[i] = crop[i][0];
            ends[i] = crop[i][1] == 0 ? Long.MAX_VALUE : -crop[i][1];
            axes[i] = i + 2;
            long d = shape[i + 2];
            if (d >= 0 && crop[i][0] + crop[i][1] >= d) {
                throw new InvalidInputException("cropping " + crop[i][0] + "+" + crop[i][1] + " of " + d
                        + " elements leaves nothing");
            }
            shape[i + 2] = d < 0 ? -1 : d - crop[i][0] - crop[i][1];
        }
        Value y = graph.operator("Slice", List.of(graph.frameworkData(data), longs(starts, hint + "_starts"),
                longs(ends, hint + "_ends"), longs(axes, hint + "_axes")), data.type(), List.of(shape), hint).get(0);
        return out(y, channelsFirst);
    }

    /** The spatial axes padded with zeros by {@code pads[axis] = {before, after}}. */
    Value pad(Value x, boolean channelsFirst, int[][] pads, String hint) {
        Value data = in(x, channelsFirst);
        int rank = data.rank();
        long[] flat = new long[2 * rank];
        long[] shape = data.shape();
        for (int i = 0; i < pads.length; i++) {
            flat[i + 2] = pads[i][0];
            flat[rank + i + 2] = pads[i][1];
            shape[i + 2] = shape[i + 2] < 0 ? -1 : shape[i + 2] + pads[i][0] + pads[i][1];
        }
        Value y = graph.operator("Pad", List.of(graph.frameworkData(data), longs(flat, hint + "_pads")), data.type(),
                List.of(shape), hint).get(0);
        return out(y, channelsFirst);
    }

    private String longs(long[] values, String hint) {
        return graph.constant(Tensor.ofLongs(new long[] {values.length}, values), hint);
    }

    /** Output shape of a convolution or pool over channels-first data, adding its padding attributes. */
    private static long[] windowed(Value data, int[] kernel, int[] strides, int[] dilations, Padding padding,
                                   long outChannels, List<AttributeProto> attrs) {
        int spatial = kernel.length;
        if (strides.length != spatial || dilations.length != spatial) {
            throw new InvalidInputException("strides and dilations need " + spatial + " values each");
        }
        long[] pads = new long[2 * spatial];
        long[] out = new long[spatial + 2];
        out[0] = data.dim(0);
        out[1] = outChannels;
        boolean known = true;
        for (int i = 0; i < spatial; i++) {
            long in = data.dim(i + 2);
            long span = (long) (kernel[i] - 1) * dilations[i] + 1;
            if (in < 0) {
                known = false;
                out[i + 2] = -1;
                if (padding == Padding.CAUSAL) {
                    pads[i] = span - 1;
                }
                continue;
            }
            switch (padding) {
                case SAME -> {
                    out[i + 2] = (in + strides[i] - 1) / strides[i];
                    long total = Math.max((out[i + 2] - 1) * strides[i] + span - in, 0);
                    pads[i] = total / 2;
                    pads[spatial + i] = total - total / 2;
                }
                case CAUSAL -> {
                    pads[i] = span - 1;
                    out[i + 2] = (in - 1) / strides[i] + 1;
                }
                case VALID -> {
                    if (in < span) {
                        throw new InvalidInputException("window of " + span + " is larger than the input's " + in
                                + " with valid padding");
                    }
                    out[i + 2] = (in - span) / strides[i] + 1;
                }
            }
        }
        if (known || padding != Padding.SAME) {
            attrs.add(attr("pads", pads));
        } else {
            attrs.add(attr("auto_pad", "SAME_UPPER")); // TensorFlow's SAME puts the odd element last too
        }
        return out;
    }

    private static long[] longs(int[] values) {
        return Arrays.stream(values).asLongStream().toArray();
    }
}
