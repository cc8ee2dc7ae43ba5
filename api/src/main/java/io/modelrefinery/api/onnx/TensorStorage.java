package io.modelrefinery.api.onnx;

import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * Decodes the data of a {@link TensorProto} stored in the model itself (raw_data or one typed field)
 * and checks that its length matches the declared type and dims.
 */
final class TensorStorage {
    private TensorStorage() {
    }

    static String describe(TensorProto proto) {
        return proto.getName().isEmpty() ? "unnamed tensor" : "tensor '" + proto.getName() + "'";
    }

    static long[] dims(TensorProto proto) {
        long[] dims = new long[proto.getDimsCount()];
        for (int i = 0; i < dims.length; i++) {
            dims[i] = proto.getDims(i);
        }
        return dims;
    }

    /** Bytes the raw layout of this tensor needs; validates type and dims. */
    static long expectedBytes(TensorProto proto, String what) {
        DataType type = DataType.require(proto.getDataType(), what);
        if (type == DataType.STRING) {
            throw new InvalidModelException(what + " is a STRING tensor, which cannot be stored as raw bytes");
        }
        return Tensor.byteSize(type, dims(proto), what);
    }

    static Tensor decode(TensorProto proto, String what) {
        DataType type = DataType.require(proto.getDataType(), what);
        if (proto.hasSegment()) {
            throw new InvalidModelException(what + " is a segment of a larger tensor, which is not supported");
        }
        long[] dims = dims(proto);
        long count = Tensor.elementCount(dims, what);
        List<String> used = usedFields(proto);
        if (used.size() > 1) {
            throw new InvalidModelException(what + " stores its data in more than one field: " + used);
        }
        if (type == DataType.STRING) {
            if (!used.isEmpty() && !used.get(0).equals("string_data")) {
                throw new InvalidModelException(what + " is STRING but stores its data in " + used.get(0));
            }
            if (proto.getStringDataCount() != count) {
                throw new InvalidModelException(what + " is STRING" + java.util.Arrays.toString(dims) + " with "
                        + count + " elements but string_data has " + proto.getStringDataCount());
            }
            return Tensor.fromStrings(dims, proto.getStringDataList());
        }
        long bytes = Tensor.byteSize(type, dims, what);
        if (proto.hasRawData() || used.isEmpty()) {
            int length = proto.getRawData().size();
            if (length != bytes) {
                throw new InvalidModelException(what + ": raw_data has " + length + " bytes, but "
                        + Tensor.describe(type, dims) + " needs " + bytes);
            }
            return Tensor.of(type, dims, proto.getRawData().asReadOnlyByteBuffer());
        }
        String field = used.get(0);
        String expectedField = type.storage().name().toLowerCase(java.util.Locale.ROOT);
        if (!field.equals(expectedField)) {
            throw new InvalidModelException(what + " is " + type + " but stores its data in " + field
                    + " instead of " + expectedField);
        }
        ByteBuffer out = ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
        long values = type.kind() == DataType.Kind.COMPLEX ? count * 2 : count;
        switch (type.storage()) {
            case FLOAT_DATA:
                requireCount(what, field, proto.getFloatDataCount(), values);
                for (int i = 0; i < values; i++) {
                    out.putFloat(proto.getFloatData(i));
                }
                break;
            case DOUBLE_DATA:
                requireCount(what, field, proto.getDoubleDataCount(), values);
                for (int i = 0; i < values; i++) {
                    out.putDouble(proto.getDoubleData(i));
                }
                break;
            case INT64_DATA:
                requireCount(what, field, proto.getInt64DataCount(), count);
                for (int i = 0; i < count; i++) {
                    out.putLong(proto.getInt64Data(i));
                }
                break;
            case UINT64_DATA:
                requireCount(what, field, proto.getUint64DataCount(), count);
                for (int i = 0; i < count; i++) {
                    if (type == DataType.UINT32) {
                        out.putInt((int) proto.getUint64Data(i));
                    } else {
                        out.putLong(proto.getUint64Data(i));
                    }
                }
                break;
            case INT32_DATA:
                decodeInt32Data(proto, type, count, what, out);
                break;
            default:
                throw new InvalidModelException(what + " has type " + type + " with no typed storage");
        }
        out.flip();
        return Tensor.of(type, dims, out);
    }

    private static void decodeInt32Data(TensorProto proto, DataType type, long count, String what, ByteBuffer out) {
        int perEntry = type.elementsPerInt32Entry();
        long entries = (count + perEntry - 1) / perEntry;
        requireCount(what, "int32_data", proto.getInt32DataCount(), entries);
        for (int i = 0; i < entries; i++) {
            int v = proto.getInt32Data(i);
            switch (type.bits()) {
                case 32:
                    out.putInt(v);
                    break;
                case 16:
                    out.putShort((short) v);
                    break;
                default: // 8 bits, or one packed byte of 4- or 2-bit elements
                    out.put(type == DataType.BOOL ? (byte) (v != 0 ? 1 : 0) : (byte) v);
            }
        }
    }

    private static void requireCount(String what, String field, int actual, long expected) {
        if (actual != expected) {
            throw new InvalidModelException(what + ": " + field + " has " + actual + " entries, but its type and dims need "
                    + expected);
        }
    }

    private static List<String> usedFields(TensorProto proto) {
        List<String> used = new ArrayList<>(1);
        if (proto.hasRawData() && !proto.getRawData().isEmpty()) {
            used.add("raw_data");
        }
        if (proto.getFloatDataCount() > 0) {
            used.add("float_data");
        }
        if (proto.getInt32DataCount() > 0) {
            used.add("int32_data");
        }
        if (proto.getStringDataCount() > 0) {
            used.add("string_data");
        }
        if (proto.getInt64DataCount() > 0) {
            used.add("int64_data");
        }
        if (proto.getDoubleDataCount() > 0) {
            used.add("double_data");
        }
        if (proto.getUint64DataCount() > 0) {
            used.add("uint64_data");
        }
        return used;
    }
}
