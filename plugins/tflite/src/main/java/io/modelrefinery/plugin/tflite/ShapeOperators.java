package io.modelrefinery.plugin.tflite;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.plugin.convert.ChannelsLastGraph;
import io.modelrefinery.plugin.convert.ChannelsLastGraph.Value;
import io.modelrefinery.plugin.convert.Weight;
import io.modelrefinery.plugin.tflite.TfliteTables.Options;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;
import static io.modelrefinery.plugin.tflite.TfliteConverter.bool;
import static io.modelrefinery.plugin.tflite.TfliteConverter.int32;
import static io.modelrefinery.plugin.tflite.TfliteTables.OptionFields.*;

/**
 * TFLite's operators that move, select or reshape data (TRANSPOSE, SLICE, STRIDED_SLICE, GATHER, SPLIT,
 * PACK, ...), plus reductions, comparisons and selection, and the integer bookkeeping of dynamic shapes
 * (SHAPE, CAST). They work on the framework's (channels-last) layout: their axes are TFLite's. Shapes are
 * computed here so that the converter can check them against those the model declares.
 */
final class ShapeOperators {
    private final TfliteConverter converter;

    ShapeOperators(TfliteConverter converter) {
        this.converter = converter;
    }

    private ChannelsLastGraph graph() {
        return converter.graph();
    }

    private Value node(String opType, List<String> inputs, DataType type, long[] shape, String hint,
                       io.modelrefinery.api.onnx.proto.Onnx.AttributeProto... attributes) {
        return graph().operator(opType, inputs, type, List.of(shape), hint, attributes).get(0);
    }

    private String name(Value v) {
        return graph().frameworkData(v);
    }

    private String longs(String hint, long... values) {
        return graph().constant(Tensor.ofLongs(new long[] {values.length}, values), hint);
    }

    // ---------------------------------------------------------------- permutations and slices

    Value transpose(Value x, int[] perm, String hint) {
        if (perm.length != x.rank()) {
            throw new InvalidInputException("permutation " + Arrays.toString(perm) + " for a " + x.rank() + "-D tensor");
        }
        long[] p = new long[perm.length];
        long[] shape = new long[perm.length];
        boolean[] seen = new boolean[perm.length];
        for (int i = 0; i < perm.length; i++) {
            int a = axis(perm[i], x.rank());
            if (seen[a]) {
                throw new InvalidInputException("permutation " + Arrays.toString(perm) + " repeats axis " + a);
            }
            seen[a] = true;
            p[i] = a;
            shape[i] = x.dim(a);
        }
        return node("Transpose", List.of(name(x)), x.type(), shape, hint, attr("perm", p));
    }

    /** SLICE: {@code size[i] == -1} takes the rest of axis i. */
    Value slice(Value x, int[] begin, int[] size, String hint) {
        int rank = x.rank();
        if (begin.length != rank || size.length != rank) {
            throw new InvalidInputException("begin " + Arrays.toString(begin) + " and size " + Arrays.toString(size)
                    + " for a " + rank + "-D tensor");
        }
        long[] starts = new long[rank];
        long[] ends = new long[rank];
        long[] shape = new long[rank];
        for (int a = 0; a < rank; a++) {
            long dim = x.dim(a);
            boolean outside = dim >= 0 && (begin[a] > dim || size[a] >= 0 && (long) begin[a] + size[a] > dim);
            if (begin[a] < 0 || size[a] < -1 || outside) {
                throw new InvalidInputException("slice of " + size[a] + " from " + begin[a] + " does not fit axis " + a
                        + " of " + x);
            }
            starts[a] = begin[a];
            ends[a] = size[a] == -1 ? Long.MAX_VALUE : (long) begin[a] + size[a];
            shape[a] = size[a] == -1 ? (dim < 0 ? -1 : dim - begin[a]) : size[a];
        }
        return sliceNode(x, starts, ends, null, shape, hint);
    }

    Value stridedSlice(int[] in, Options o, String hint) {
        Value x = converter.value(in[0]);
        int[] strides = in.length > 3 && in[3] >= 0 ? converter.intConstant(in[3]) : null;
        StridedSlice s = StridedSlice.of(x.shape(), converter.intConstant(in[1]), converter.intConstant(in[2]), strides,
                int32(o, STRIDED_SLICE_BEGIN_MASK, 0), int32(o, STRIDED_SLICE_END_MASK, 0),
                int32(o, STRIDED_SLICE_ELLIPSIS_MASK, 0), int32(o, STRIDED_SLICE_NEW_AXIS_MASK, 0),
                int32(o, STRIDED_SLICE_SHRINK_AXIS_MASK, 0), bool(o, STRIDED_SLICE_OFFSET));
        Value y = x;
        if (!s.wholeInput()) {
            y = sliceNode(x, s.starts(), s.ends(), s.steps(), s.slicedShape(), s.shrunk().length == 0
                    && s.added().length == 0 ? hint : hint + "_slice");
        }
        if (s.shrunk().length > 0) {
            y = node("Squeeze", List.of(name(y), longs(hint + "_shrink_axes", s.shrunk())), y.type(), s.squeezedShape(),
                    s.added().length == 0 ? hint : hint + "_shrink");
        }
        if (s.added().length > 0) {
            y = node("Unsqueeze", List.of(name(y), longs(hint + "_new_axes", s.added())), y.type(), s.outputShape(),
                    hint);
        }
        return y;
    }

    private Value sliceNode(Value x, long[] starts, long[] ends, long[] steps, long[] shape, String hint) {
        long[] axes = new long[starts.length];
        Arrays.setAll(axes, i -> i);
        List<String> inputs = new ArrayList<>(List.of(name(x), longs(hint + "_starts", starts),
                longs(hint + "_ends", ends), longs(hint + "_axes", axes)));
        if (steps != null) {
            inputs.add(longs(hint + "_steps", steps));
        }
        return node("Slice", inputs, x.type(), shape, hint);
    }

    /** GATHER along one axis; the data may be a constant (an embedding table) and the indices a graph input. */
    Value gather(int[] in, Options o, String hint) {
        if (int32(o, GATHER_BATCH_DIMS, 0) != 0) {
            throw new InvalidInputException("batch_dims " + int32(o, GATHER_BATCH_DIMS, 0) + " is not supported");
        }
        Value params = converter.value(in[0]);
        Value indices = converter.value(in[1]);
        if (indices.type() != DataType.INT32 && indices.type() != DataType.INT64) {
            throw new InvalidInputException("the indices are " + indices.type() + ", not integers");
        }
        int axis = axis(int32(o, GATHER_AXIS, 0), params.rank());
        long[] shape = new long[params.rank() - 1 + indices.rank()];
        int k = 0;
        for (int a = 0; a < axis; a++) {
            shape[k++] = params.dim(a);
        }
        for (int a = 0; a < indices.rank(); a++) {
            shape[k++] = indices.dim(a);
        }
        for (int a = axis + 1; a < params.rank(); a++) {
            shape[k++] = params.dim(a);
        }
        return node("Gather", List.of(name(params), name(indices)), params.type(), shape, hint,
                attr("axis", (long) axis));
    }

    Value expandDims(Value x, int[] axisTensor, String hint) {
        if (axisTensor.length != 1) {
            throw new InvalidInputException("EXPAND_DIMS takes one axis, gets " + Arrays.toString(axisTensor));
        }
        int a = axis(axisTensor[0], x.rank() + 1);
        long[] shape = new long[x.rank() + 1];
        for (int i = 0, j = 0; i < shape.length; i++) {
            shape[i] = i == a ? 1 : x.dim(j++);
        }
        return node("Unsqueeze", List.of(name(x), longs(hint + "_axes", a)), x.type(), shape, hint);
    }

    /** SQUEEZE of the axes given, or of every axis of size 1 when none are. */
    Value squeeze(Value x, int[] dims, String hint) {
        boolean[] drop = new boolean[x.rank()];
        if (dims.length == 0) {
            for (int a = 0; a < x.rank(); a++) {
                drop[a] = x.dim(a) == 1;
            }
        }
        for (int d : dims) {
            int a = axis(d, x.rank());
            if (x.dim(a) > 1) {
                throw new InvalidInputException("cannot squeeze axis " + a + " of " + x + ": its size is not 1");
            }
            drop[a] = true;
        }
        List<Long> axes = new ArrayList<>();
        List<Long> shape = new ArrayList<>();
        for (int a = 0; a < x.rank(); a++) {
            (drop[a] ? axes : shape).add(drop[a] ? (long) a : x.dim(a));
        }
        if (axes.isEmpty()) {
            return x;
        }
        return node("Squeeze", List.of(name(x), longs(hint + "_axes", toLongs(axes))), x.type(), toLongs(shape), hint);
    }

    /** PACK: the values stacked along a new axis. */
    Value pack(List<Value> values, int axisOption, String hint) {
        Value first = values.get(0);
        int a = axis(axisOption, first.rank() + 1);
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < values.size(); i++) {
            Value v = values.get(i);
            if (v.rank() != first.rank()) {
                throw new InvalidInputException("packed tensors differ in rank: " + values);
            }
            parts.add(name(expandDims(v, new int[] {a}, hint + "_part" + i)));
        }
        long[] shape = new long[first.rank() + 1];
        for (int i = 0, j = 0; i < shape.length; i++) {
            shape[i] = i == a ? values.size() : first.dim(j++);
        }
        return node("Concat", parts, first.type(), shape, hint, attr("axis", (long) a));
    }

    /** UNPACK: one output per slice along the axis, that axis removed. */
    List<Value> unpack(int[] in, int[] out, Options o) {
        Value x = converter.value(in[0]);
        int a = axis(int32(o, UNPACK_AXIS, 0), x.rank());
        int num = int32(o, UNPACK_NUM, out.length);
        if (num != out.length || x.dim(a) >= 0 && x.dim(a) != num) {
            throw new InvalidInputException("unpacks axis " + a + " of " + x + " into " + out.length + " outputs");
        }
        long[] sizes = new long[num];
        Arrays.fill(sizes, 1);
        List<Value> parts = splitNode(x, a, sizes, out, "_part");
        List<Value> result = new ArrayList<>();
        for (int i = 0; i < parts.size(); i++) {
            Value part = parts.get(i);
            long[] shape = new long[x.rank() - 1];
            for (int k = 0, j = 0; k < x.rank(); k++) {
                if (k != a) {
                    shape[j++] = x.dim(k);
                }
            }
            String name = converter.tensorName(out[i]);
            result.add(node("Squeeze", List.of(name(part), longs(name + "_axes", a)), x.type(), shape, name));
        }
        return result;
    }

    /** SPLIT: inputs (axis, value), equal parts. */
    List<Value> split(int[] in, int[] out) {
        Value x = converter.value(in[1]);
        int a = axis(scalar(converter.intConstant(in[0]), "split axis"), x.rank());
        long dim = x.dim(a);
        if (dim >= 0 && dim % out.length != 0) {
            throw new InvalidInputException("axis " + a + " of " + x + " does not split into " + out.length
                    + " equal parts");
        }
        long[] sizes = new long[out.length];
        Arrays.fill(sizes, dim < 0 ? -1 : dim / out.length);
        return splitNode(x, a, sizes, out, "");
    }

    /** SPLIT_V: inputs (value, sizes, axis); one size may be -1, the rest of the axis. */
    List<Value> splitV(int[] in, int[] out) {
        Value x = converter.value(in[0]);
        int[] given = converter.intConstant(in[1]);
        int a = axis(scalar(converter.intConstant(in[2]), "split axis"), x.rank());
        if (given.length != out.length) {
            throw new InvalidInputException(given.length + " split sizes for " + out.length + " outputs");
        }
        long[] sizes = new long[given.length];
        long known = 0;
        int inferred = -1;
        for (int i = 0; i < given.length; i++) {
            sizes[i] = given[i];
            if (given[i] == -1 && inferred < 0) {
                inferred = i;
            } else if (given[i] < 0) {
                throw new InvalidInputException("split sizes " + Arrays.toString(given) + " are not valid");
            } else {
                known += given[i];
            }
        }
        long dim = x.dim(a);
        if (inferred >= 0) {
            if (dim < 0) {
                throw new InvalidInputException("split size -1 of an axis of unknown size");
            }
            sizes[inferred] = dim - known;
        }
        if (dim >= 0 && Arrays.stream(sizes).sum() != dim) {
            throw new InvalidInputException("split sizes " + Arrays.toString(given) + " do not add up to axis " + a
                    + " of " + x);
        }
        return splitNode(x, a, sizes, out, "");
    }

    private List<Value> splitNode(Value x, int axis, long[] sizes, int[] out, String suffix) {
        List<long[]> shapes = new ArrayList<>();
        for (long size : sizes) {
            long[] shape = x.shape();
            shape[axis] = size;
            shapes.add(shape);
        }
        String hint = converter.tensorName(out[0]) + suffix;
        List<String> inputs = new ArrayList<>(List.of(name(x)));
        if (Arrays.stream(sizes).allMatch(s -> s >= 0)) {
            inputs.add(longs(hint + "_split", sizes));
        }
        return graph().operator("Split", inputs, x.type(), shapes, hint, attr("axis", (long) axis));
    }

    Value tile(Value x, int[] multiples, String hint) {
        if (multiples.length != x.rank()) {
            throw new InvalidInputException(multiples.length + " multiples for a " + x.rank() + "-D tensor");
        }
        long[] shape = x.shape();
        long[] repeats = new long[multiples.length];
        for (int a = 0; a < shape.length; a++) {
            repeats[a] = multiples[a];
            shape[a] = shape[a] < 0 ? -1 : shape[a] * multiples[a];
        }
        return node("Tile", List.of(name(x), longs(hint + "_repeats", repeats)), x.type(), shape, hint);
    }

    /** MIRROR_PAD: REFLECT leaves the border out (ONNX Pad's reflect), SYMMETRIC repeats it (slices and a concat). */
    Value mirrorPad(Value x, int[] flat, boolean symmetric, String hint) {
        if (flat.length != 2 * x.rank()) {
            throw new InvalidInputException("paddings for " + flat.length / 2 + " axes of a " + x.rank() + "-D tensor");
        }
        long[] shape = x.shape();
        long[] pads = new long[flat.length];
        for (int a = 0; a < x.rank(); a++) {
            long limit = x.dim(a) < 0 ? Long.MAX_VALUE : symmetric ? x.dim(a) : x.dim(a) - 1;
            if (flat[2 * a] < 0 || flat[2 * a + 1] < 0 || flat[2 * a] > limit || flat[2 * a + 1] > limit) {
                throw new InvalidInputException("mirror padding " + flat[2 * a] + ", " + flat[2 * a + 1]
                        + " is out of range for axis " + a + " of " + x);
            }
            pads[a] = flat[2 * a];
            pads[x.rank() + a] = flat[2 * a + 1];
            shape[a] = shape[a] < 0 ? -1 : shape[a] + flat[2 * a] + flat[2 * a + 1];
        }
        if (!symmetric) {
            return node("Pad", List.of(name(x), longs(hint + "_pads", pads)), x.type(), shape, hint,
                    attr("mode", "reflect"));
        }
        Value y = x;
        for (int a = 0; a < x.rank(); a++) {
            long before = flat[2 * a];
            long after = flat[2 * a + 1];
            if (before == 0 && after == 0) {
                continue;
            }
            List<String> parts = new ArrayList<>();
            String axisHint = hint + "_axis" + a;
            if (before > 0) { // elements before-1 down to 0
                parts.add(reversed(y, a, before - 1, Long.MIN_VALUE, before, axisHint + "_before"));
            }
            parts.add(name(y));
            if (after > 0) { // the last element down to the after-th from the end
                parts.add(reversed(y, a, -1, -after - 1, after, axisHint + "_after"));
            }
            long[] s = y.shape();
            s[a] = s[a] < 0 ? -1 : s[a] + before + after;
            y = node("Concat", parts, x.type(), s, a == lastPadded(flat) ? hint : axisHint, attr("axis", (long) a));
        }
        return y;
    }

    private static int lastPadded(int[] flat) {
        int last = -1;
        for (int a = 0; a < flat.length / 2; a++) {
            if (flat[2 * a] != 0 || flat[2 * a + 1] != 0) {
                last = a;
            }
        }
        return last;
    }

    /** The {@code count} elements from {@code start} back to (not including) {@code end} along an axis. */
    private String reversed(Value x, int axis, long start, long end, long count, String hint) {
        long[] shape = x.shape();
        shape[axis] = count;
        return name(node("Slice", List.of(name(x), longs(hint + "_starts", start), longs(hint + "_ends", end),
                longs(hint + "_axes", axis), longs(hint + "_steps", -1)), x.type(), shape, hint));
    }

    // ---------------------------------------------------------------- reductions and softmax

    /** SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD over constant axes. */
    Value reduce(String opType, Value x, int[] axes, boolean keepDims, String hint) {
        boolean[] reduced = new boolean[x.rank()];
        for (int a : axes) {
            reduced[axis(a, x.rank())] = true;
        }
        List<Long> axisList = new ArrayList<>();
        List<Long> shape = new ArrayList<>();
        for (int a = 0; a < x.rank(); a++) {
            if (reduced[a]) {
                axisList.add((long) a);
            }
            if (!reduced[a] || keepDims) {
                shape.add(reduced[a] ? 1L : x.dim(a));
            }
        }
        long[] axisArray = toLongs(axisList);
        if (axisArray.length == 0) {
            return x; // TFLite reduces nothing over an empty axis list
        }
        if (opType.equals("ReduceSum")) { // since opset 13 the axes of ReduceSum are an input, the others' an attribute
            return node(opType, List.of(name(x), longs(hint + "_axes", axisArray)), x.type(), toLongs(shape), hint,
                    attr("keepdims", keepDims ? 1L : 0L));
        }
        return node(opType, List.of(name(x)), x.type(), toLongs(shape), hint, attr("axes", axisArray),
                attr("keepdims", keepDims ? 1L : 0L));
    }

    Value logSoftmax(Value x, String hint) {
        return node("LogSoftmax", List.of(name(x)), x.type(), x.shape(), hint, attr("axis", -1L));
    }

    /** ARG_MAX or ARG_MIN over one axis, the first index on ties as in TFLite, as int32 or int64. */
    Value argExtreme(String opType, Value x, int[] axisTensor, DataType outType, String hint) {
        int a = axis(scalar(axisTensor, "axis"), x.rank());
        long[] shape = new long[x.rank() - 1];
        for (int i = 0, j = 0; i < x.rank(); i++) {
            if (i != a) {
                shape[j++] = x.dim(i);
            }
        }
        Value index = node(opType, List.of(name(x)), DataType.INT64, shape,
                outType == DataType.INT64 ? hint : hint + "_int64", attr("axis", (long) a), attr("keepdims", 0L));
        return outType == DataType.INT64 ? index : cast(index, outType, hint);
    }

    // ---------------------------------------------------------------- comparisons and selection

    /** A comparison or logical operator, elementwise with broadcasting; {@code negate} adds a Not (NOT_EQUAL). */
    Value compare(String opType, boolean negate, Value a, Value b, String hint) {
        TfliteConverter.requireSameType(a.type(), b.type());
        if ((opType.equals("And") || opType.equals("Or")) && a.type() != DataType.BOOL) {
            throw new InvalidInputException("logical operands are " + a.type() + ", not booleans");
        }
        long[] shape = ChannelsLastGraph.broadcast(a.shape(), b.shape());
        Value y = node(opType, List.of(name(a), name(b)), DataType.BOOL, shape, negate ? hint + "_equal" : hint);
        return negate ? logicalNot(y, hint) : y;
    }

    Value logicalNot(Value x, String hint) {
        if (x.type() != DataType.BOOL) {
            throw new InvalidInputException("LOGICAL_NOT of " + x.type() + " values, not booleans");
        }
        return node("Not", List.of(name(x)), DataType.BOOL, x.shape(), hint);
    }

    /**
     * SELECT and SELECT_V2: {@code condition ? x : y}, broadcasting as ONNX's Where does. SELECT (the first
     * version) also takes a 1-D condition that picks whole rows of higher-rank operands.
     */
    Value select(boolean rows, Value condition, Value x, Value y, String hint) {
        if (condition.type() != DataType.BOOL) {
            throw new InvalidInputException("the condition holds " + condition.type() + " values, not booleans");
        }
        if (rows && condition.rank() == 1 && x.rank() > 1) {
            long[] axes = new long[x.rank() - 1];
            long[] shape = new long[x.rank()];
            Arrays.fill(shape, 1);
            shape[0] = condition.dim(0);
            Arrays.setAll(axes, i -> i + 1);
            condition = node("Unsqueeze", List.of(name(condition), longs(hint + "_row_axes", axes)), DataType.BOOL,
                    shape, hint + "_rows");
        }
        TfliteConverter.requireSameType(x.type(), y.type());
        long[] shape = ChannelsLastGraph.broadcast(condition.shape(), ChannelsLastGraph.broadcast(x.shape(), y.shape()));
        return node("Where", List.of(name(condition), name(x), name(y)), x.type(), shape, hint);
    }

    // ---------------------------------------------------------------- matrices

    /** BATCH_MATMUL: batch dimensions broadcast; adj_x and adj_y transpose the last two axes of either side. */
    Value batchMatMul(int[] in, boolean adjX, boolean adjY, String hint) {
        Value a = converter.value(in[0]);
        if (a.rank() < 2) {
            throw new InvalidInputException("BATCH_MATMUL needs 2 or more dimensions, " + a + " has " + a.rank());
        }
        String left = adjX ? name(swapLast(a, hint + "_adj_x")) : name(a);
        long[] aShape = lastTwoSwapped(a.shape(), adjX);
        long[] bShape;
        String right;
        if (converter.isConstant(in[1])) {
            Weight w = converter.weights(in[1]);
            int rank = w.data().rank();
            if (rank < 2) {
                throw new InvalidInputException("BATCH_MATMUL needs 2 or more dimensions, its second operand has "
                        + rank);
            }
            if (adjY) {
                w = TfliteConverter.transposed(w, lastTwoSwapped(rank));
            }
            right = graph().weight(w, hint + "_rhs");
            bShape = w.data().shape();
        } else {
            Value b = converter.value(in[1]);
            right = adjY ? name(swapLast(b, hint + "_adj_y")) : name(b);
            bShape = lastTwoSwapped(b.shape(), adjY);
        }
        if (bShape.length < 2) {
            throw new InvalidInputException("BATCH_MATMUL needs 2 or more dimensions on both sides");
        }
        long inner = aShape[aShape.length - 1];
        long rows = bShape[bShape.length - 2];
        if (inner >= 0 && rows >= 0 && inner != rows) {
            throw new InvalidInputException("BATCH_MATMUL of " + Arrays.toString(aShape) + " and "
                    + Arrays.toString(bShape) + ": inner dimensions differ");
        }
        long[] batch = ChannelsLastGraph.broadcast(Arrays.copyOf(aShape, aShape.length - 2),
                Arrays.copyOf(bShape, bShape.length - 2));
        long[] shape = Arrays.copyOf(batch, batch.length + 2);
        shape[batch.length] = aShape[aShape.length - 2];
        shape[batch.length + 1] = bShape[bShape.length - 1];
        return node("MatMul", List.of(left, right), DataType.FLOAT, shape, hint);
    }

    private Value swapLast(Value x, String hint) {
        return transpose(x, lastTwoSwapped(x.rank()), hint);
    }

    /** The permutation that swaps the last two of {@code rank} axes. */
    private static int[] lastTwoSwapped(int rank) {
        int[] perm = new int[rank];
        Arrays.setAll(perm, i -> i == rank - 2 ? rank - 1 : i == rank - 1 ? rank - 2 : i);
        return perm;
    }

    private static long[] lastTwoSwapped(long[] shape, boolean swap) {
        long[] s = shape.clone();
        if (swap && s.length >= 2) {
            s[s.length - 2] = shape[shape.length - 1];
            s[s.length - 1] = shape[shape.length - 2];
        }
        return s;
    }

    // ---------------------------------------------------------------- integer bookkeeping

    /** SHAPE: the input's dimensions at run time, as int32 (TFLite's default) or int64. */
    Value shape(Value x, DataType outType, String hint) {
        Value dims = node("Shape", List.of(name(x)), DataType.INT64, new long[] {x.rank()},
                outType == DataType.INT64 ? hint : hint + "_int64");
        return outType == DataType.INT64 ? dims : cast(dims, outType, hint);
    }

    Value cast(Value x, DataType to, String hint) {
        return node("Cast", List.of(name(x)), to, x.shape(), hint, attr("to", (long) to.code()));
    }

    /** RESHAPE to a shape the graph computes; TFLite's shape tensor is int32, ONNX's int64. */
    Value dynamicReshape(Value x, Value shape, long[] declared, String hint) {
        if (shape.rank() != 1) {
            throw new InvalidInputException("the new shape must be a 1-D tensor, is " + shape);
        }
        Value target = shape.type() == DataType.INT64 ? shape : cast(shape, DataType.INT64, hint + "_shape");
        return node("Reshape", List.of(name(x), name(target)), x.type(), declared, hint);
    }

    // ---------------------------------------------------------------- helpers

    static int axis(int axis, int rank) {
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) {
            throw new InvalidInputException("axis " + axis + " is out of range for a " + rank + "-D tensor");
        }
        return a;
    }

    private static int scalar(int[] values, String what) {
        if (values.length != 1) {
            throw new InvalidInputException("the " + what + " should be one number, is " + Arrays.toString(values));
        }
        return values[0];
    }

    private static long[] toLongs(List<Long> values) {
        return values.stream().mapToLong(Long::longValue).toArray();
    }
}
