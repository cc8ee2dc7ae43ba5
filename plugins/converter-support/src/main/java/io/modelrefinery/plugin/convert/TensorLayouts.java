package io.modelrefinery.plugin.convert;

import io.modelrefinery.api.onnx.Tensor;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Rearranges the data of constant tensors: weights move from a framework's layout to ONNX's once, at
 * conversion time, instead of through Transpose nodes at run time. Works on the raw bytes, so int8
 * weights keep their exact values.
 */
public final class TensorLayouts {
    private TensorLayouts() {
    }

    /** {@code t} with its axes permuted: output axis {@code i} is input axis {@code perm[i]}. */
    public static Tensor transpose(Tensor t, int... perm) {
        int rank = t.rank();
        if (perm.length != rank) {
            throw new IllegalArgumentException("permutation " + Arrays.toString(perm) + " for " + t);
        }
        long[] inShape = t.shape();
        long[] outShape = new long[rank];
        for (int i = 0; i < rank; i++) {
            outShape[i] = inShape[perm[i]];
        }
        long[] inStrides = strides(inShape);
        int size = elementBytes(t);
        int count = Math.toIntExact(t.elementCount());
        ByteBuffer in = t.data();
        byte[] out = new byte[count * size];
        long[] index = new long[rank];
        for (int o = 0; o < count; o++) {
            long offset = 0;
            for (int i = 0; i < rank; i++) {
                offset += index[i] * inStrides[perm[i]];
            }
            in.position((int) offset * size);
            in.get(out, o * size, size);
            for (int i = rank - 1; i >= 0; i--) { // next output index, row-major
                if (++index[i] < outShape[i]) {
                    break;
                }
                index[i] = 0;
            }
        }
        return Tensor.of(t.type(), outShape, out);
    }

    /** {@code t} with its rows (slices along axis 0) reordered: output row {@code j} is input row {@code order[j]}. */
    public static Tensor takeRows(Tensor t, int[] order) {
        if (order.length != t.dim(0)) {
            throw new IllegalArgumentException(order.length + " rows requested from " + t);
        }
        int rowBytes = Math.toIntExact(t.byteSize() / Math.max(1, t.dim(0)));
        ByteBuffer in = t.data();
        byte[] out = new byte[rowBytes * order.length];
        for (int j = 0; j < order.length; j++) {
            in.position(order[j] * rowBytes);
            in.get(out, j * rowBytes, rowBytes);
        }
        return Tensor.of(t.type(), t.shape(), out);
    }

    private static int elementBytes(Tensor t) {
        if (t.type().bits() < 8 || t.type().bits() % 8 != 0) {
            throw new IllegalArgumentException("cannot rearrange " + t + ": elements are not whole bytes");
        }
        return t.type().bits() / 8;
    }

    private static long[] strides(long[] shape) {
        long[] strides = new long[shape.length];
        long stride = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            strides[i] = stride;
            stride *= shape[i];
        }
        return strides;
    }
}
