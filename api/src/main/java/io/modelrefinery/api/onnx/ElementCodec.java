package io.modelrefinery.api.onnx;

import java.nio.ByteBuffer;

/** Reads and writes single elements of every numeric ONNX type in raw (little-endian, packed) layout. */
final class ElementCodec {
    private static final double TWO_POW_63 = 0x1p63;

    private ElementCodec() {
    }

    static void decodeAll(DataType type, ByteBuffer data, double[] out) {
        for (int i = 0; i < out.length; i++) {
            out[i] = decode(type, data, i);
        }
    }

    static double decode(DataType type, ByteBuffer data, long flatIndex) {
        int i = Math.toIntExact(flatIndex);
        switch (type) {
            case FLOAT:
            case COMPLEX64:
                return data.getFloat(i * 4);
            case DOUBLE:
            case COMPLEX128:
                return data.getDouble(i * 8);
            case FLOAT16:
                return FloatFormats.halfToFloat(data.getShort(i * 2));
            case BFLOAT16:
                return FloatFormats.bfloat16ToFloat(data.getShort(i * 2));
            case FLOAT8E4M3FN:
            case FLOAT8E4M3FNUZ:
            case FLOAT8E5M2:
            case FLOAT8E5M2FNUZ:
            case FLOAT8E8M0:
                return FloatFormats.decodeNarrow(type, data.get(i));
            case FLOAT4E2M1:
                return FloatFormats.decodeNarrow(type, packed(data, i, 4));
            case UINT64: {
                long bits = data.getLong(i * 8);
                double value = bits & Long.MAX_VALUE;
                return bits < 0 ? value + TWO_POW_63 : value;
            }
            default:
                return decodeLong(type, data, i);
        }
    }

    static void decodeAllLongs(DataType type, ByteBuffer data, long[] out) {
        for (int i = 0; i < out.length; i++) {
            out[i] = decodeLong(type, data, i);
        }
    }

    static long decodeLong(DataType type, ByteBuffer data, int i) {
        switch (type) {
            case UINT8:
                return data.get(i) & 0xff;
            case INT8:
                return data.get(i);
            case BOOL:
                return data.get(i) != 0 ? 1 : 0;
            case UINT16:
                return data.getShort(i * 2) & 0xffff;
            case INT16:
                return data.getShort(i * 2);
            case INT32:
                return data.getInt(i * 4);
            case UINT32:
                return data.getInt(i * 4) & 0xffffffffL;
            case INT64:
            case UINT64:
                return data.getLong(i * 8);
            case UINT4:
                return packed(data, i, 4);
            case INT4:
                return (packed(data, i, 4) << 28) >> 28;
            case UINT2:
                return packed(data, i, 2);
            case INT2:
                return (packed(data, i, 2) << 30) >> 30;
            default:
                throw new IllegalStateException(type + " is not an integer type");
        }
    }

    /** Writes {@code values} converted to {@code type} into {@code out} (zeroed, raw layout). */
    static void encode(DataType type, double[] values, ByteBuffer out) {
        for (int i = 0; i < values.length; i++) {
            encode(type, values[i], out, i);
        }
    }

    private static void encode(DataType type, double v, ByteBuffer out, int i) {
        switch (type) {
            case FLOAT:
            case COMPLEX64:
                out.putFloat(i * 4, (float) v);
                break;
            case DOUBLE:
            case COMPLEX128:
                out.putDouble(i * 8, v);
                break;
            case FLOAT16:
                out.putShort(i * 2, FloatFormats.floatToHalf((float) v));
                break;
            case BFLOAT16:
                out.putShort(i * 2, FloatFormats.floatToBfloat16((float) v));
                break;
            case FLOAT8E4M3FN:
            case FLOAT8E4M3FNUZ:
            case FLOAT8E5M2:
            case FLOAT8E5M2FNUZ:
            case FLOAT8E8M0:
                out.put(i, (byte) FloatFormats.encodeNarrow(type, v));
                break;
            case FLOAT4E2M1:
                putPacked(out, i, 4, FloatFormats.encodeNarrow(type, v));
                break;
            case BOOL:
                out.put(i, (byte) (v != 0 ? 1 : 0));
                break;
            case UINT8:
            case INT8:
                out.put(i, (byte) saturate(type, v));
                break;
            case UINT16:
            case INT16:
                out.putShort(i * 2, (short) saturate(type, v));
                break;
            case UINT32:
            case INT32:
                out.putInt(i * 4, (int) saturate(type, v));
                break;
            case INT64:
                out.putLong(i * 8, Double.isNaN(v) ? 0 : (long) Math.rint(v));
                break;
            case UINT64:
                out.putLong(i * 8, toUnsigned64(v));
                break;
            case UINT4:
            case INT4:
                putPacked(out, i, 4, (int) saturate(type, v));
                break;
            case UINT2:
            case INT2:
                putPacked(out, i, 2, (int) saturate(type, v));
                break;
            default:
                throw new IllegalArgumentException(type + " is not a numeric type");
        }
    }

    private static long saturate(DataType type, double v) {
        if (Double.isNaN(v)) {
            return 0;
        }
        int bits = type.bits();
        long min = type.kind() == DataType.Kind.SIGNED ? -(1L << (bits - 1)) : 0;
        long max = type.kind() == DataType.Kind.SIGNED ? (1L << (bits - 1)) - 1 : (1L << bits) - 1;
        double rounded = Math.rint(v);
        return rounded <= min ? min : rounded >= max ? max : (long) rounded;
    }

    private static long toUnsigned64(double v) {
        if (Double.isNaN(v) || v <= 0) {
            return 0;
        }
        double rounded = Math.rint(v);
        if (rounded >= 2 * TWO_POW_63) {
            return -1L;
        }
        return rounded >= TWO_POW_63 ? (long) (rounded - TWO_POW_63) | Long.MIN_VALUE : (long) rounded;
    }

    private static int packed(ByteBuffer data, int i, int bits) {
        int perByte = 8 / bits;
        int shift = (i % perByte) * bits;
        return (data.get(i / perByte) >>> shift) & ((1 << bits) - 1);
    }

    private static void putPacked(ByteBuffer out, int i, int bits, int value) {
        int perByte = 8 / bits;
        int shift = (i % perByte) * bits;
        int mask = (1 << bits) - 1;
        int current = out.get(i / perByte);
        out.put(i / perByte, (byte) ((current & ~(mask << shift)) | ((value & mask) << shift)));
    }
}
