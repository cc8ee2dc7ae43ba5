package io.modelrefinery.plugin.tflite;

import io.modelrefinery.api.InvalidInputException;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A STRIDED_SLICE as ONNX nodes: Slice over every input axis, then Squeeze of the shrunk axes, then
 * Unsqueeze of the new ones. The sparse specification (one entry per element of begin, end and strides,
 * with TensorFlow's five masks) is expanded to one entry per input axis as TensorFlow's
 * {@code ValidateStridedSliceOp} does: an ellipsis covers the axes that no other entry names (one is
 * implied at the end when none is given), a new axis takes no input axis, a shrunk axis takes the one
 * element at its begin. Where an axis's size is known, its bounds are canonicalized here (negative
 * indices counted from the end, clamped as TensorFlow clamps them); elsewhere ONNX's Slice clamps them.
 *
 * @param starts per input axis, for Slice
 * @param ends per input axis, for Slice ({@code Long.MAX_VALUE} / {@code MIN_VALUE}: to the end)
 * @param steps per input axis
 * @param slicedShape the Slice's output shape (-1 unknown)
 * @param shrunk input axes removed after the slice
 * @param added positions in the output of the new axes of size 1
 * @param outputShape the operator's output shape
 * @param wholeInput whether the Slice returns its input unchanged (every axis whole, forward, step 1)
 */
record StridedSlice(long[] starts, long[] ends, long[] steps, long[] slicedShape, long[] shrunk, long[] added,
                    long[] outputShape, boolean wholeInput) {

    static StridedSlice of(long[] shape, int[] begin, int[] end, int[] strides, int beginMask, int endMask,
                           int ellipsisMask, int newAxisMask, int shrinkAxisMask, boolean offset) {
        int n = begin.length;
        if (end.length != n || strides != null && strides.length != n) {
            throw new InvalidInputException("begin, end and strides have " + n + ", " + end.length + " and "
                    + (strides == null ? n : strides.length) + " elements");
        }
        if (Integer.bitCount(ellipsisMask & ((1 << n) - 1)) > 1) {
            throw new InvalidInputException("ellipsis_mask " + ellipsisMask + " names more than one ellipsis");
        }
        int rank = shape.length;
        // Expand the sparse specification to one entry per input axis.
        int entries = n;
        int ellipsis = ellipsisMask & ((1 << n) - 1);
        if (ellipsis == 0) { // an ellipsis implied at the end
            ellipsis = 1 << n;
            entries++;
        }
        int newAxesAfterEllipsis = 0;
        boolean seen = false;
        for (int i = 0; i < n; i++) {
            if (seen && bit(newAxisMask, i) && !bit(ellipsis, i)) {
                newAxesAfterEllipsis++;
            }
            seen |= bit(ellipsis, i);
        }
        long[] b = new long[rank];
        long[] e = new long[rank];
        long[] s = new long[rank];
        boolean[] bm = new boolean[rank];
        boolean[] em = new boolean[rank];
        boolean[] shrink = new boolean[rank];
        List<Integer> finalAxes = new ArrayList<>(); // input axis, NEW_AXIS or SHRUNK for each entry
        int full = 0;
        for (int i = 0; i < entries; i++) {
            if (bit(ellipsis, i)) {
                int next = Math.min(rank - (entries - i) + 1 + newAxesAfterEllipsis, rank);
                for (; full < next; full++) {
                    s[full] = 1;
                    bm[full] = true;
                    em[full] = true;
                    finalAxes.add(full);
                }
            } else if (bit(newAxisMask, i)) {
                finalAxes.add(NEW_AXIS);
            } else {
                if (full >= rank) {
                    throw new InvalidInputException("slices " + n + " axes of a " + rank + "-D tensor");
                }
                b[full] = begin[i];
                e[full] = offset ? (long) begin[i] + end[i] : end[i];
                s[full] = strides == null ? 1 : strides[i];
                if (s[full] == 0) {
                    throw new InvalidInputException("stride 0 on axis " + full);
                }
                bm[full] = bit(beginMask, i);
                em[full] = bit(endMask, i);
                shrink[full] = bit(shrinkAxisMask, i);
                finalAxes.add(shrink[full] ? SHRUNK : full);
                full++;
            }
        }
        for (; full < rank; full++) { // entries that named fewer axes than the input has
            s[full] = 1;
            bm[full] = true;
            em[full] = true;
            finalAxes.add(full);
        }
        long[] starts = new long[rank];
        long[] ends = new long[rank];
        long[] sliced = new long[rank];
        for (int a = 0; a < rank; a++) {
            long dim = shape[a];
            if (shrink[a]) {
                long at = b[a] < 0 && dim >= 0 ? b[a] + dim : b[a];
                if (dim >= 0 && (at < 0 || at >= dim)) {
                    throw new InvalidInputException("index " + b[a] + " of axis " + a + " is out of range " + dim);
                }
                starts[a] = at;
                ends[a] = at == -1 ? Long.MAX_VALUE : at + 1;
                s[a] = 1;
                sliced[a] = 1;
                continue;
            }
            boolean forward = s[a] > 0;
            long first = bm[a] ? (forward ? 0 : Long.MAX_VALUE) : b[a];
            long last = em[a] ? (forward ? Long.MAX_VALUE : Long.MIN_VALUE) : e[a];
            if (dim < 0) {
                starts[a] = first;
                ends[a] = last;
                sliced[a] = -1;
                continue;
            }
            // TensorFlow's canonical bounds: negative counts from the end, then clamped to [0, dim]
            // going forward, to [-1, dim - 1] going backward.
            long lo = forward ? 0 : -1;
            long hi = forward ? dim : dim - 1;
            first = bm[a] ? (forward ? 0 : dim - 1) : clamp(first < 0 ? first + dim : first, lo, hi);
            last = em[a] ? (forward ? dim : -1) : clamp(last < 0 ? last + dim : last, lo, hi);
            long count = forward ? ceilDiv(last - first, s[a]) : ceilDiv(first - last, -s[a]);
            sliced[a] = Math.max(count, 0);
            starts[a] = first;
            ends[a] = last == -1 && !forward ? Long.MIN_VALUE : last; // ONNX reads -1 as the last element
        }
        boolean whole = true;
        for (int a = 0; a < rank; a++) {
            whole &= s[a] == 1 && starts[a] == 0 && !shrink[a] && (ends[a] == Long.MAX_VALUE || ends[a] == shape[a]);
        }
        List<Long> shrunk = new ArrayList<>();
        List<Long> squeezed = new ArrayList<>();
        for (int a = 0; a < rank; a++) {
            if (shrink[a]) {
                shrunk.add((long) a);
            } else {
                squeezed.add(sliced[a]);
            }
        }
        List<Long> added = new ArrayList<>();
        List<Long> output = new ArrayList<>();
        for (int axis : finalAxes) {
            if (axis == NEW_AXIS) {
                added.add((long) output.size());
                output.add(1L);
            } else if (axis != SHRUNK) {
                output.add(sliced[axis]);
            }
        }
        return new StridedSlice(starts, ends, s, sliced, longs(shrunk), longs(added), longs(output), whole);
    }

    private static final int NEW_AXIS = -1;
    private static final int SHRUNK = -2;

    /** The shape after the slice and the squeeze, before any new axes. */
    long[] squeezedShape() {
        long[] out = new long[slicedShape.length - shrunk.length];
        for (int a = 0, j = 0; a < slicedShape.length; a++) {
            if (Arrays.binarySearch(shrunk, a) < 0) {
                out[j++] = slicedShape[a];
            }
        }
        return out;
    }

    private static boolean bit(int mask, int i) {
        return i < 31 && (mask & (1 << i)) != 0;
    }

    private static long clamp(long v, long lo, long hi) {
        return Math.max(lo, Math.min(hi, v));
    }

    private static long ceilDiv(long a, long b) {
        return Math.floorDiv(a + b - 1, b);
    }

    private static long[] longs(List<Long> values) {
        return values.stream().mapToLong(Long::longValue).toArray();
    }
}
