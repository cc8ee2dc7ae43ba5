package io.modelrefinery.plugin.tflite;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.plugin.convert.ChannelsLastGraph;
import io.modelrefinery.plugin.convert.ChannelsLastGraph.Padding;
import io.modelrefinery.plugin.convert.ChannelsLastGraph.Value;
import io.modelrefinery.plugin.convert.Weight;
import io.modelrefinery.plugin.tflite.TfliteTables.Options;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;
import static io.modelrefinery.plugin.tflite.TfliteConverter.int32;
import static io.modelrefinery.plugin.tflite.TfliteConverter.padding;
import static io.modelrefinery.plugin.tflite.TfliteTables.OptionFields.*;

/**
 * TFLite's spatial operators on NHWC images: RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR, TRANSPOSE_CONV,
 * SPACE_TO_DEPTH, DEPTH_TO_SPACE, SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND, each computing what TFLite's
 * reference kernel computes.
 */
final class ImageOperators {
    private final TfliteConverter converter;

    ImageOperators(TfliteConverter converter) {
        this.converter = converter;
    }

    private ChannelsLastGraph graph() {
        return converter.graph();
    }

    // ---------------------------------------------------------------- resize

    /**
     * RESIZE_BILINEAR or RESIZE_NEAREST_NEIGHBOR to {@code size = {height, width}}.
     *
     * <p>Bilinear is ONNX's linear Resize with the coordinate transformation TFLite applies: align_corners
     * maps corner to corner ({@code in * (in - 1) / (out - 1)}), half_pixel_centers samples at pixel centres
     * ({@code (out + 0.5) * in / out - 0.5}, clamped to the image as TFLite's lower and upper bounds clamp
     * it), neither scales the index ({@code out * in / out}).
     *
     * <p>Nearest neighbour is a Gather of the rows and one of the columns TFLite picks, computed here in
     * float32 exactly as its kernel computes them ({@code floor}, or {@code round} half away from zero with
     * align_corners), so that no index near a rounding boundary can differ, which a Resize's own float
     * arithmetic could not promise.
     */
    Value resize(Value x, int[] size, boolean nearest, boolean alignCorners, boolean halfPixelCenters, String hint) {
        if (x.rank() != 4) {
            throw new InvalidInputException("resizing needs a 4-D NHWC input, gets " + x);
        }
        if (size.length != 2 || size[0] <= 0 || size[1] <= 0) {
            throw new InvalidInputException("the new size should be {height, width}, is " + Arrays.toString(size));
        }
        if (alignCorners && halfPixelCenters) {
            throw new InvalidInputException("align_corners and half_pixel_centers are both set, which TFLite refuses");
        }
        long[] shape = {x.dim(0), size[0], size[1], x.dim(3)};
        if (nearest && x.dim(1) > 0 && x.dim(2) > 0) {
            return nearestByGather(x, size, alignCorners, halfPixelCenters, shape, hint);
        }
        String mode = alignCorners ? "align_corners" : halfPixelCenters ? "half_pixel" : "asymmetric";
        // TFLite's nearest: floor(...), or round half away from zero with align_corners; as ONNX's nearest
        // modes, for inputs of unknown size (the index arithmetic may then differ at exact halves).
        String nearestMode = alignCorners ? "round_prefer_ceil" : halfPixelCenters ? "round_prefer_ceil" : "floor";
        boolean channelsFirst = x.isChannelsFirst();
        String input = channelsFirst ? channelsFirst(x) : graph().frameworkData(x);
        List<AttributeProto> attrs = new ArrayList<>(List.of(attr("mode", nearest ? "nearest" : "linear"),
                attr("coordinate_transformation_mode", mode)));
        if (nearest) {
            attrs.add(attr("nearest_mode", nearestMode));
        }
        String sizes = sizes(x, input, channelsFirst ? new long[] {-1, x.dim(3), size[0], size[1]}
                : new long[] {-1, size[0], size[1], x.dim(3)}, hint);
        return onLayout(channelsFirst, "Resize", List.of(input, "", "", sizes), x.type(), shape, hint,
                attrs.toArray(AttributeProto[]::new));
    }

    /** Resize's sizes: the batch from the input's shape at run time, the other dimensions as given. */
    private String sizes(Value x, String input, long[] rest, String hint) {
        for (int i = 1; i < rest.length; i++) {
            if (rest[i] < 0) {
                throw new InvalidInputException("resizing needs a known number of channels, " + x + " has none");
            }
        }
        if (x.dim(0) >= 0) {
            long[] all = rest.clone();
            all[0] = x.dim(0);
            return graph().constant(Tensor.ofLongs(new long[] {4}, all), hint + "_sizes");
        }
        String shape = node("Shape", List.of(input), DataType.INT64, new long[] {4}, hint + "_input_shape");
        String batch = node("Slice", List.of(shape, longs(hint + "_batch_start", 0), longs(hint + "_batch_end", 1)),
                DataType.INT64, new long[] {1}, hint + "_batch");
        return node("Concat", List.of(batch, longs(hint + "_size_rest", Arrays.copyOfRange(rest, 1, 4))),
                DataType.INT64, new long[] {4}, hint + "_sizes", attr("axis", 0L));
    }

    private Value nearestByGather(Value x, int[] size, boolean alignCorners, boolean halfPixelCenters, long[] shape,
                                  String hint) {
        boolean channelsFirst = x.isChannelsFirst();
        String input = channelsFirst ? channelsFirst(x) : graph().frameworkData(x);
        int rowAxis = channelsFirst ? 2 : 1;
        long[] rowsShape = {x.dim(0), size[0], x.dim(2), x.dim(3)};
        Value rows = gather(input, nearestIndices((int) x.dim(1), size[0], alignCorners, halfPixelCenters), rowAxis,
                x.type(), rowsShape, channelsFirst, hint + "_rows");
        String rowsName = channelsFirst ? channelsFirst(rows) : graph().frameworkData(rows);
        int[] columns = nearestIndices((int) x.dim(2), size[1], alignCorners, halfPixelCenters);
        return gather(rowsName, columns, rowAxis + 1, x.type(), shape, channelsFirst, hint);
    }

    private Value gather(String input, int[] indices, int axis, DataType type, long[] shape, boolean channelsFirst,
                         String hint) {
        String index = graph().constant(Tensor.ofInts(new long[] {indices.length}, indices), hint + "_indices");
        return onLayout(channelsFirst, "Gather", List.of(input, index), type, shape, hint, attr("axis", (long) axis));
    }

    /** TFLite's GetNearestNeighbor for every output index, in its float32 arithmetic. */
    static int[] nearestIndices(int inputSize, int outputSize, boolean alignCorners, boolean halfPixelCenters) {
        float scale = alignCorners && outputSize > 1 ? (inputSize - 1) / (float) (outputSize - 1)
                : inputSize / (float) outputSize;
        float offset = halfPixelCenters ? 0.5f : 0f;
        int[] out = new int[outputSize];
        for (int i = 0; i < outputSize; i++) {
            float scaled = (i + offset) * scale;
            int v = Math.min(alignCorners ? (int) roundHalfAway(scaled) : (int) Math.floor(scaled), inputSize - 1);
            out[i] = halfPixelCenters ? Math.max(0, v) : v;
        }
        return out;
    }

    private static float roundHalfAway(float v) {
        return v < 0 ? -(float) Math.floor(-v + 0.5f) : (float) Math.floor(v + 0.5f);
    }

    // ---------------------------------------------------------------- transpose convolution

    /**
     * TRANSPOSE_CONV: inputs (output_shape, weights [out, kh, kw, in], input, optional bias). The padding is
     * TFLite's: computed as for a forward convolution from the output size, the smaller half before,
     * and the output cropped (or extended with zeros) to output_shape.
     */
    Value transposeConv(int[] in, Options o, String hint) {
        int[] outputShape = converter.intConstant(in[0]);
        Weight filter = converter.weights(in[1]);
        Value x = converter.value(in[2]);
        Weight bias = converter.optionalWeights(in, 3);
        long[] f = filter.data().shape();
        if (outputShape.length != 4 || f.length != 4 || x.rank() != 4) {
            throw new InvalidInputException("a transpose convolution needs a 4-D output shape, filter and input, gets "
                    + Arrays.toString(outputShape) + ", " + Arrays.toString(f) + " and " + x);
        }
        if (x.dim(3) >= 0 && x.dim(3) != f[3]) {
            throw new InvalidInputException("the filter expects " + f[3] + " input channels, the input has "
                    + x.dim(3));
        }
        if (outputShape[3] != f[0]) {
            throw new InvalidInputException("output_shape has " + outputShape[3] + " channels, the filter " + f[0]);
        }
        if (x.dim(1) < 0 || x.dim(2) < 0) {
            throw new InvalidInputException("a transpose convolution needs a known input height and width, " + x
                    + " has none");
        }
        int[] strides = {int32(o, TRANSPOSE_CONV_STRIDE_H, 1), int32(o, TRANSPOSE_CONV_STRIDE_W, 1)};
        Padding padding = padding(o, TRANSPOSE_CONV_PADDING);
        long[] pads = new long[4];
        long[] outputPadding = new long[2];
        for (int i = 0; i < 2; i++) {
            long out = outputShape[1 + i];
            long kernel = f[1 + i];
            int s = strides[i];
            if (s <= 0 || out <= 0) {
                throw new InvalidInputException("stride " + s + " and output size " + out + " are not valid");
            }
            long forward = padding == Padding.SAME ? (out + s - 1) / s : (out - kernel + s) / s;
            long before = Math.max((forward - 1) * s + kernel - out, 0) / 2;
            long after = (x.dim(1 + i) - 1) * s + kernel - before - out;
            pads[i] = before;
            pads[2 + i] = Math.max(after, 0);
            outputPadding[i] = Math.max(-after, 0);
        }
        // ONNX's ConvTranspose weights are [in, out, kh, kw]; a per-channel quantization follows the out axis.
        Weight kernel = TfliteConverter.transposed(filter, new int[] {3, 0, 1, 2}, 0);
        List<String> inputs = new ArrayList<>(List.of(channelsFirst(x), graph().weight(kernel,
                hint + "_kernel")));
        if (bias != null) {
            inputs.add(graph().weight(bias, hint + "_bias"));
        }
        List<AttributeProto> attrs = new ArrayList<>(List.of(attr("kernel_shape", f[1], f[2]),
                attr("strides", (long) strides[0], (long) strides[1]), attr("pads", pads)));
        if (outputPadding[0] > 0 || outputPadding[1] > 0) {
            attrs.add(attr("output_padding", outputPadding));
        }
        long[] shape = {x.dim(0), outputShape[1], outputShape[2], outputShape[3]};
        return onLayout(true, "ConvTranspose", inputs, DataType.FLOAT, shape, hint,
                attrs.toArray(AttributeProto[]::new));
    }

    // ---------------------------------------------------------------- space and depth

    /**
     * SPACE_TO_DEPTH or DEPTH_TO_SPACE: TensorFlow orders the moved values (block row, block column,
     * channel), which is ONNX's order on channels-first data (DCR mode for DepthToSpace).
     */
    Value blocks(boolean toDepth, Value x, int block, String hint) {
        if (x.rank() != 4) {
            throw new InvalidInputException("needs a 4-D NHWC input, gets " + x);
        }
        if (block < 1) {
            throw new InvalidInputException("block size " + block + " is not valid");
        }
        long b = block;
        long[] shape = x.shape();
        for (int a = 1; a <= 2; a++) {
            if (toDepth && shape[a] >= 0 && shape[a] % b != 0) {
                throw new InvalidInputException("axis " + a + " of " + x + " is not a multiple of block size " + b);
            }
            shape[a] = shape[a] < 0 ? -1 : toDepth ? shape[a] / b : shape[a] * b;
        }
        if (!toDepth && shape[3] >= 0 && shape[3] % (b * b) != 0) {
            throw new InvalidInputException("the channels of " + x + " are not a multiple of " + b * b);
        }
        shape[3] = shape[3] < 0 ? -1 : toDepth ? shape[3] * b * b : shape[3] / (b * b);
        AttributeProto[] attrs = toDepth ? new AttributeProto[] {attr("blocksize", b)}
                : new AttributeProto[] {attr("blocksize", b), attr("mode", "DCR")};
        return onLayout(true, toDepth ? "SpaceToDepth" : "DepthToSpace", List.of(channelsFirst(x)), x.type(), shape,
                hint, attrs);
    }

    // ---------------------------------------------------------------- space and batch

    /**
     * SPACE_TO_BATCH_ND on NHWC images, as TF defines it: pad, then move each offset within a
     * {@code block = {bh, bw}} tile to the batch ({@code [bh * bw * n, h / bh, w / bw, c]}, block offsets outer).
     */
    Value spaceToBatch(Value x, int[] block, int[] paddings, String hint) {
        requireImage(x, block, paddings);
        long bh = block[0];
        long bw = block[1];
        long h = x.dim(1) + paddings[0] + paddings[1];
        long w = x.dim(2) + paddings[2] + paddings[3];
        long c = x.dim(3);
        if (h % bh != 0 || w % bw != 0) {
            throw new InvalidInputException("the padded image " + h + "x" + w + " is not a multiple of the block "
                    + bh + "x" + bw);
        }
        Value padded = x;
        if (Arrays.stream(paddings).anyMatch(p -> p != 0)) {
            long[] pads = {0, paddings[0], paddings[2], 0, 0, paddings[1], paddings[3], 0};
            padded = plain("Pad", List.of(graph().frameworkData(x), longs(hint + "_pads", pads)), x.type(),
                    new long[] {x.dim(0), h, w, c}, hint + "_padded");
        }
        Value tiles = reshape(padded, new long[] {-1, h / bh, bh, w / bw, bw, c}, hint + "_tiles");
        Value moved = plain("Transpose", List.of(graph().frameworkData(tiles)), x.type(),
                new long[] {bh, bw, x.dim(0), h / bh, w / bw, c}, hint + "_moved", attr("perm", 2L, 4L, 0L, 1L, 3L, 5L));
        long batch = x.dim(0) < 0 ? -1 : x.dim(0) * bh * bw;
        return reshape(moved, new long[] {-1, h / bh, w / bw, c}, batch, hint);
    }

    /** BATCH_TO_SPACE_ND, SPACE_TO_BATCH_ND's inverse: the batch's block offsets back into tiles, then cropped. */
    Value batchToSpace(Value x, int[] block, int[] crops, String hint) {
        requireImage(x, block, crops);
        long bh = block[0];
        long bw = block[1];
        long h = x.dim(1);
        long w = x.dim(2);
        long c = x.dim(3);
        if (x.dim(0) >= 0 && x.dim(0) % (bh * bw) != 0) {
            throw new InvalidInputException("a batch of " + x.dim(0) + " does not divide by the block " + bh + "x" + bw);
        }
        long batch = x.dim(0) < 0 ? -1 : x.dim(0) / (bh * bw);
        Value split = reshape(x, new long[] {bh, bw, -1, h, w, c}, batch, hint + "_blocks");
        Value moved = plain("Transpose", List.of(graph().frameworkData(split)), x.type(),
                new long[] {batch, h, bh, w, bw, c}, hint + "_moved", attr("perm", 2L, 3L, 0L, 4L, 1L, 5L));
        long[] whole = {batch, h * bh, w * bw, c};
        if (Arrays.stream(crops).allMatch(p -> p == 0)) {
            return reshape(moved, new long[] {-1, h * bh, w * bw, c}, batch, hint);
        }
        Value image = reshape(moved, new long[] {-1, h * bh, w * bw, c}, batch, hint + "_image");
        long[] shape = {batch, whole[1] - crops[0] - crops[1], whole[2] - crops[2] - crops[3], c};
        if (shape[1] <= 0 || shape[2] <= 0) {
            throw new InvalidInputException("crops " + Arrays.toString(crops) + " leave nothing of " + whole[1] + "x"
                    + whole[2]);
        }
        return plain("Slice", List.of(graph().frameworkData(image), longs(hint + "_starts", crops[0], crops[2]),
                longs(hint + "_ends", whole[1] - crops[1], whole[2] - crops[3]), longs(hint + "_axes", 1, 2)),
                x.type(), shape, hint);
    }

    private static void requireImage(Value x, int[] block, int[] paddings) {
        if (x.rank() != 4 || block.length != 2 || paddings.length != 4) {
            throw new InvalidInputException("needs a 4-D NHWC input, a block of 2 and 2x2 paddings or crops, gets "
                    + x + ", " + Arrays.toString(block) + " and " + Arrays.toString(paddings));
        }
        if (block[0] < 1 || block[1] < 1 || Arrays.stream(paddings).anyMatch(p -> p < 0)) {
            throw new InvalidInputException("block " + Arrays.toString(block) + " and paddings or crops "
                    + Arrays.toString(paddings) + " are not valid");
        }
        for (int a = 1; a <= 3; a++) {
            if (x.dim(a) < 0) {
                throw new InvalidInputException("needs known height, width and channels, " + x + " has none");
            }
        }
    }

    private Value reshape(Value x, long[] target, String hint) {
        return reshape(x, target, x.dim(0), hint);
    }

    /** A reshape whose one -1 the graph infers; {@code inferred} is what it comes to (-1 where unknown). */
    private Value reshape(Value x, long[] target, long inferred, String hint) {
        long[] shape = target.clone();
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] == -1) {
                shape[i] = inferred;
            }
        }
        return plain("Reshape", List.of(graph().frameworkData(x), longs(hint + "_shape", target)), x.type(),
                shape, hint);
    }

    /** The name of {@code x}'s data channels-first ({@code [n, c, h, w]}). */
    private String channelsFirst(Value x) {
        return graph().frameworkData(graph().channelsFirstData(x));
    }

    /**
     * An operator on NHWC ({@code channelsFirst} false) or NCHW data; either way its output is returned as
     * the NHWC value {@code nhwc} describes, held in the layout the operator wrote it.
     */
    private Value onLayout(boolean channelsFirst, String opType, List<String> inputs, DataType type, long[] nhwc,
                           String hint, AttributeProto... attributes) {
        if (!channelsFirst) {
            return plain(opType, inputs, type, nhwc, hint, attributes);
        }
        long[] nchw = {nhwc[0], nhwc[3], nhwc[1], nhwc[2]};
        return graph().channelsFirstView(plain(opType, inputs, type, nchw, hint, attributes));
    }

    private Value plain(String opType, List<String> inputs, DataType type, long[] shape, String hint,
                        AttributeProto... attributes) {
        return graph().operator(opType, inputs, type, List.of(shape), hint, attributes).get(0);
    }

    // ---------------------------------------------------------------- helpers

    private String node(String opType, List<String> inputs, DataType type, long[] shape, String hint,
                        AttributeProto... attributes) {
        return graph().frameworkData(plain(opType, inputs, type, shape, hint, attributes));
    }

    private String longs(String hint, long... values) {
        return graph().constant(Tensor.ofLongs(new long[] {values.length}, values), hint);
    }
}
