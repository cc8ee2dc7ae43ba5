package io.modelrefinery.api.onnx;

import com.google.protobuf.ByteString;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * An immutable dense tensor: element type, shape and row-major data in ONNX's raw layout (little-endian,
 * fixed width, sub-byte types packed from the least significant bits). It is the one tensor type of the
 * API: initializers, dataset arrays and inference inputs and outputs are all {@code Tensor}s.
 *
 * <p>Typed accessors convert from any numeric type, so a plugin reads an int8, float16 or float32 weight
 * the same way. A tensor holds at most 2 GiB of data (a Java array's limit); larger models keep their
 * data in several tensors, as every real model does.
 */
public final class Tensor {
    private static final long MAX_BYTES = Integer.MAX_VALUE - 8;

    private final DataType type;
    private final long[] shape;
    private final long elementCount;
    private final ByteBuffer data; // read-only, little-endian, position 0; null for STRING
    private final List<ByteString> strings; // STRING only

    private Tensor(DataType type, long[] shape, ByteBuffer data, List<ByteString> strings) {
        this.type = type;
        this.shape = shape;
        this.elementCount = elementCount(shape, "tensor");
        this.data = data;
        this.strings = strings;
    }

    // ---------------------------------------------------------------- factories

    /**
     * A tensor over existing little-endian bytes. The buffer's remaining bytes must be exactly the size
     * the type and shape need; they are not copied, so the caller must not change them afterwards.
     */
    public static Tensor of(DataType type, long[] shape, ByteBuffer littleEndianData) {
        Objects.requireNonNull(type, "type");
        requireFixedWidth(type);
        long[] dims = shape.clone();
        long needed = byteSize(type, dims, "tensor");
        if (littleEndianData.remaining() != needed) {
            throw new IllegalArgumentException(describe(type, dims) + " needs " + needed + " bytes, got "
                    + littleEndianData.remaining());
        }
        ByteBuffer view = littleEndianData.slice().asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
        return new Tensor(type, dims, view, null);
    }

    /** A tensor that copies {@code littleEndianData}. */
    public static Tensor of(DataType type, long[] shape, byte[] littleEndianData) {
        return of(type, shape, ByteBuffer.wrap(littleEndianData.clone()));
    }

    public static Tensor ofFloats(long[] shape, float... values) {
        ByteBuffer buffer = allocate(DataType.FLOAT, shape, values.length);
        buffer.asFloatBuffer().put(values);
        return of(DataType.FLOAT, shape, buffer);
    }

    public static Tensor ofDoubles(long[] shape, double... values) {
        ByteBuffer buffer = allocate(DataType.DOUBLE, shape, values.length);
        buffer.asDoubleBuffer().put(values);
        return of(DataType.DOUBLE, shape, buffer);
    }

    public static Tensor ofLongs(long[] shape, long... values) {
        ByteBuffer buffer = allocate(DataType.INT64, shape, values.length);
        buffer.asLongBuffer().put(values);
        return of(DataType.INT64, shape, buffer);
    }

    public static Tensor ofInts(long[] shape, int... values) {
        ByteBuffer buffer = allocate(DataType.INT32, shape, values.length);
        buffer.asIntBuffer().put(values);
        return of(DataType.INT32, shape, buffer);
    }

    public static Tensor ofStrings(long[] shape, List<String> values) {
        long[] dims = shape.clone();
        long count = elementCount(dims, "tensor");
        if (count != values.size()) {
            throw new IllegalArgumentException("STRING" + Arrays.toString(dims) + " needs " + count
                    + " strings, got " + values.size());
        }
        List<ByteString> utf8 = new ArrayList<>(values.size());
        for (String value : values) {
            utf8.add(ByteString.copyFromUtf8(value));
        }
        return new Tensor(DataType.STRING, dims, null, Collections.unmodifiableList(utf8));
    }

    /** A scalar (rank 0) float tensor. */
    public static Tensor scalar(float value) {
        return ofFloats(new long[0], value);
    }

    /**
     * Converts {@code values} to {@code type}: floating-point types round to nearest even (narrow float
     * types saturate), integer types round half to even and saturate to their range, BOOL is value != 0.
     */
    public static Tensor fromDoubles(DataType type, long[] shape, double[] values) {
        requireNumeric(type);
        ByteBuffer buffer = allocate(type, shape, values.length);
        ElementCodec.encode(type, values, buffer);
        return of(type, shape, buffer);
    }

    /** Like {@link #fromDoubles} for float input. */
    public static Tensor fromFloats(DataType type, long[] shape, float[] values) {
        if (type == DataType.FLOAT) {
            return ofFloats(shape, values);
        }
        double[] widened = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            widened[i] = values[i];
        }
        return fromDoubles(type, shape, widened);
    }

    /**
     * Reads a tensor stored inside a {@link TensorProto}, from raw_data or its typed field.
     *
     * @throws InvalidModelException if the data does not match the type and dims, or lives in an
     *     external file (use {@link OnnxModel#tensor(TensorProto)} for those)
     */
    public static Tensor fromProto(TensorProto proto) {
        String what = TensorStorage.describe(proto);
        if (proto.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
            throw new InvalidModelException(what + " keeps its data in an external file; read it through "
                    + "the OnnxModel it belongs to");
        }
        return TensorStorage.decode(proto, what);
    }

    // ---------------------------------------------------------------- accessors

    public DataType type() {
        return type;
    }

    /** The dimensions; a copy. */
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int axis) {
        return shape[axis];
    }

    public long elementCount() {
        return elementCount;
    }

    /** Size of the data in raw layout, in bytes. */
    public long byteSize() {
        return data == null ? 0 : data.capacity();
    }

    /** The data as a read-only little-endian buffer positioned at 0. */
    public ByteBuffer data() {
        requireFixedWidth(type);
        return data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** A copy of the raw little-endian bytes. */
    public byte[] toByteArray() {
        byte[] bytes = new byte[data().remaining()];
        data().get(bytes);
        return bytes;
    }

    /** The element at a flat row-major index as a double (complex types: index counts real/imaginary parts). */
    public double getDouble(long index) {
        requireNumericOrComplex(type);
        return ElementCodec.decode(type, data, index);
    }

    /** All elements as doubles, converted from the element type. Complex types give real/imaginary pairs. */
    public double[] toDoubleArray() {
        requireNumericOrComplex(type);
        int n = Math.toIntExact(valueCount());
        double[] out = new double[n];
        ElementCodec.decodeAll(type, data, out);
        return out;
    }

    /** All elements as floats, converted from the element type (doubles lose precision). */
    public float[] toFloatArray() {
        requireNumericOrComplex(type);
        int n = Math.toIntExact(valueCount());
        float[] out = new float[n];
        if (type == DataType.FLOAT || type == DataType.COMPLEX64) {
            data().asFloatBuffer().get(out);
            return out;
        }
        double[] values = toDoubleArray();
        for (int i = 0; i < n; i++) {
            out[i] = (float) values[i];
        }
        return out;
    }

    /**
     * All elements as longs, exactly, for integer and BOOL types. UINT64 values above
     * {@link Long#MAX_VALUE} come back as their two's-complement bit pattern.
     */
    public long[] toLongArray() {
        if (type.kind() != DataType.Kind.SIGNED && type.kind() != DataType.Kind.UNSIGNED
                && type.kind() != DataType.Kind.BOOL) {
            throw new IllegalStateException("toLongArray needs an integer tensor, this one is " + type);
        }
        long[] out = new long[Math.toIntExact(elementCount)];
        ElementCodec.decodeAllLongs(type, data, out);
        return out;
    }

    /** The elements of a STRING tensor, decoded as UTF-8. */
    public List<String> toStringList() {
        if (type != DataType.STRING) {
            throw new IllegalStateException("toStringList needs a STRING tensor, this one is " + type);
        }
        List<String> out = new ArrayList<>(strings.size());
        for (ByteString s : strings) {
            out.add(s.toString(StandardCharsets.UTF_8));
        }
        return out;
    }

    List<ByteString> rawStrings() {
        return strings;
    }

    /** The same data with another shape of the same element count. */
    public Tensor reshape(long... newShape) {
        long[] dims = newShape.clone();
        if (elementCount(dims, "tensor") != elementCount) {
            throw new IllegalArgumentException("cannot reshape " + this + " to " + Arrays.toString(dims));
        }
        return new Tensor(type, dims, data, strings);
    }

    /** This tensor as a {@link TensorProto} named {@code name}, data in raw_data (strings in string_data). */
    public TensorProto toProto(String name) {
        TensorProto.Builder builder = TensorProto.newBuilder().setName(name).setDataType(type.code());
        for (long d : shape) {
            builder.addDims(d);
        }
        if (type == DataType.STRING) {
            builder.addAllStringData(strings);
        } else {
            builder.setRawData(ByteString.copyFrom(data()));
        }
        return builder.build();
    }

    @Override
    public boolean equals(Object other) {
        if (this == other) {
            return true;
        }
        if (!(other instanceof Tensor)) {
            return false;
        }
        Tensor that = (Tensor) other;
        return type == that.type && Arrays.equals(shape, that.shape)
                && Objects.equals(data, that.data) && Objects.equals(strings, that.strings);
    }

    @Override
    public int hashCode() {
        return Objects.hash(type, Arrays.hashCode(shape), data, strings);
    }

    @Override
    public String toString() {
        return describe(type, shape);
    }

    // ---------------------------------------------------------------- helpers shared with the IR

    static String describe(DataType type, long[] shape) {
        StringBuilder sb = new StringBuilder(type.name()).append('[');
        for (int i = 0; i < shape.length; i++) {
            sb.append(i == 0 ? "" : ",").append(shape[i]);
        }
        return sb.append(']').toString();
    }

    /**
     * Element count of a shape, refusing negative dims and overflow.
     *
     * @param what names the tensor in the error message
     */
    static long elementCount(long[] shape, String what) {
        long count = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new InvalidModelException(what + " has negative dimension " + d + " in "
                        + Arrays.toString(shape));
            }
            try {
                count = Math.multiplyExact(count, d);
            } catch (ArithmeticException e) {
                throw new InvalidModelException(what + " has too many elements: " + Arrays.toString(shape));
            }
        }
        return count;
    }

    /** Bytes the data of a fixed-width tensor needs, refusing sizes a tensor cannot hold. */
    static long byteSize(DataType type, long[] shape, String what) {
        long count = elementCount(shape, what);
        long bytes;
        try {
            bytes = type.byteSize(count);
        } catch (ArithmeticException e) {
            bytes = Long.MAX_VALUE;
        }
        if (bytes > MAX_BYTES) {
            throw new InvalidModelException(what + " is " + describe(type, shape)
                    + ", more than the 2 GiB one tensor can hold");
        }
        return bytes;
    }

    private long valueCount() {
        return type.kind() == DataType.Kind.COMPLEX ? elementCount * 2 : elementCount;
    }

    private static ByteBuffer allocate(DataType type, long[] shape, int valueCount) {
        long count = elementCount(shape, "tensor");
        long expectedValues = type.kind() == DataType.Kind.COMPLEX ? count * 2 : count;
        if (expectedValues != valueCount) {
            throw new IllegalArgumentException(describe(type, shape) + " needs " + expectedValues
                    + " values, got " + valueCount);
        }
        return ByteBuffer.allocate(Math.toIntExact(byteSize(type, shape, "tensor"))).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static void requireFixedWidth(DataType type) {
        if (type.bits() == 0) {
            throw new IllegalStateException(type + " has no fixed-width data");
        }
    }

    private static void requireNumeric(DataType type) {
        if (!type.isNumeric()) {
            throw new IllegalArgumentException(type + " is not a numeric type");
        }
    }

    private static void requireNumericOrComplex(DataType type) {
        if (!type.isNumeric() && type.kind() != DataType.Kind.COMPLEX) {
            throw new IllegalStateException(type + " tensors have no numeric values");
        }
    }

    static Tensor fromStrings(long[] shape, List<ByteString> values) {
        return new Tensor(DataType.STRING, shape, null, Collections.unmodifiableList(new ArrayList<>(values)));
    }
}
