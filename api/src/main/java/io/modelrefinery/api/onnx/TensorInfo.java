package io.modelrefinery.api.onnx;

import java.util.Arrays;
import java.util.Objects;

/**
 * Name, element type and shape of a tensor value: a model input or output, or an array of a dataset.
 * A dimension of -1 is dynamic (any size).
 */
public final class TensorInfo {
    private final String name;
    private final DataType type;
    private final long[] shape;

    public TensorInfo(String name, DataType type, long[] shape) {
        this.name = Objects.requireNonNull(name, "name");
        this.type = Objects.requireNonNull(type, "type");
        this.shape = shape.clone();
    }

    public String name() {
        return name;
    }

    public DataType type() {
        return type;
    }

    /** The dimensions, -1 where dynamic; a copy. */
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    /** True if every dimension of {@code dims} equals this shape's, dynamic dimensions matching anything. */
    public boolean accepts(long[] dims) {
        if (dims.length != shape.length) {
            return false;
        }
        for (int i = 0; i < dims.length; i++) {
            if (shape[i] >= 0 && shape[i] != dims[i]) {
                return false;
            }
        }
        return true;
    }

    /** The shape as written in messages: {@code [?,28,28]}. */
    public String shapeString() {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < shape.length; i++) {
            sb.append(i == 0 ? "" : ",").append(shape[i] < 0 ? "?" : Long.toString(shape[i]));
        }
        return sb.append(']').toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo && ((TensorInfo) o).name.equals(name) && ((TensorInfo) o).type == type
                && Arrays.equals(((TensorInfo) o).shape, shape);
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, type, Arrays.hashCode(shape));
    }

    @Override
    public String toString() {
        return name + ": " + type + shapeString();
    }
}
