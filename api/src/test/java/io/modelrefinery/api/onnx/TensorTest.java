package io.modelrefinery.api.onnx;

import com.google.protobuf.ByteString;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TensorTest {

    /** Values every numeric type can hold exactly (small integers, within int2's range where needed). */
    private static double[] representable(DataType type) {
        switch (type) {
            case BOOL: return new double[] {0, 1, 1, 0, 1};
            case UINT2: return new double[] {0, 1, 2, 3, 1};
            case INT2: return new double[] {-2, -1, 0, 1, 0};
            case UINT4: return new double[] {0, 3, 7, 15, 9};
            case INT4: return new double[] {-8, -1, 0, 7, 3};
            case FLOAT4E2M1: return new double[] {0, 0.5, -1.5, 6, -4};
            case FLOAT8E8M0: return new double[] {1, 2, 0.25, 1024, 0.5};
            case UINT8: case UINT16: case UINT32: case UINT64: return new double[] {0, 1, 2, 100, 7};
            case INT8: case INT16: case INT32: case INT64: return new double[] {0, 1, -2, 100, -128};
            default: return new double[] {0, 1, -2, 3.5, -0.25};
        }
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"UNDEFINED", "STRING", "COMPLEX64", "COMPLEX128"},
            mode = EnumSource.Mode.EXCLUDE)
    void everyNumericTypeRoundTripsThroughRawData(DataType type) {
        double[] values = representable(type);
        Tensor tensor = Tensor.fromDoubles(type, new long[] {values.length}, values);

        Tensor back = Tensor.fromProto(tensor.toProto("t"));

        assertEquals(type, back.type());
        assertArrayEquals(values, back.toDoubleArray(), type.toString());
        assertEquals(type.byteSize(values.length), back.byteSize());
    }

    @Test
    void readsEveryTypedStorageField() {
        TensorProto floats = TensorProto.newBuilder().setName("f").setDataType(1).addDims(2)
                .addFloatData(1.5f).addFloatData(-2f).build();
        TensorProto int8s = TensorProto.newBuilder().setName("i8").setDataType(3).addDims(3)
                .addInt32Data(-128).addInt32Data(0).addInt32Data(127).build();
        TensorProto halves = TensorProto.newBuilder().setName("h").setDataType(10).addDims(2)
                .addInt32Data(0x3c00).addInt32Data(0xc000).build();
        TensorProto int4s = TensorProto.newBuilder().setName("i4").setDataType(22).addDims(3)
                .addInt32Data(0x8f).addInt32Data(0x07).build();
        TensorProto longs = TensorProto.newBuilder().setName("l").setDataType(7).addDims(2)
                .addInt64Data(Long.MIN_VALUE).addInt64Data(42).build();
        TensorProto doubles = TensorProto.newBuilder().setName("d").setDataType(11).addDims(1)
                .addDoubleData(Math.PI).build();
        TensorProto uint32s = TensorProto.newBuilder().setName("u").setDataType(12).addDims(2)
                .addUint64Data(4_000_000_000L).addUint64Data(1).build();
        TensorProto complex = TensorProto.newBuilder().setName("c").setDataType(14).addDims(1)
                .addFloatData(1f).addFloatData(2f).build();
        TensorProto strings = TensorProto.newBuilder().setName("s").setDataType(8).addDims(2)
                .addStringData(ByteString.copyFromUtf8("a")).addStringData(ByteString.copyFromUtf8("é")).build();

        assertArrayEquals(new float[] {1.5f, -2f}, Tensor.fromProto(floats).toFloatArray());
        assertArrayEquals(new long[] {-128, 0, 127}, Tensor.fromProto(int8s).toLongArray());
        assertArrayEquals(new double[] {1, -2}, Tensor.fromProto(halves).toDoubleArray());
        assertArrayEquals(new long[] {-1, -8, 7}, Tensor.fromProto(int4s).toLongArray());
        assertArrayEquals(new long[] {Long.MIN_VALUE, 42}, Tensor.fromProto(longs).toLongArray());
        assertArrayEquals(new double[] {Math.PI}, Tensor.fromProto(doubles).toDoubleArray());
        assertArrayEquals(new long[] {4_000_000_000L, 1}, Tensor.fromProto(uint32s).toLongArray());
        assertArrayEquals(new double[] {1, 2}, Tensor.fromProto(complex).toDoubleArray());
        assertEquals(List.of("a", "é"), Tensor.fromProto(strings).toStringList());
    }

    @Test
    void refusesDataThatDoesNotMatchTypeAndDims() {
        TensorProto shortRaw = Tensor.ofFloats(new long[] {3}, 1, 2, 3).toProto("w").toBuilder()
                .addDims(2).build();
        TensorProto wrongField = TensorProto.newBuilder().setName("x").setDataType(7).addDims(1)
                .addFloatData(1f).build();
        TensorProto negative = TensorProto.newBuilder().setName("n").setDataType(1).addDims(-1).build();
        TensorProto unknownType = TensorProto.newBuilder().setName("u").setDataType(99).build();

        InvalidModelException e = assertThrows(InvalidModelException.class, () -> Tensor.fromProto(shortRaw));
        assertEquals("tensor 'w': raw_data has 12 bytes, but FLOAT[3,2] needs 24", e.getMessage());
        assertTrue(assertThrows(InvalidModelException.class, () -> Tensor.fromProto(wrongField)).getMessage()
                .contains("tensor 'x' is INT64 but stores its data in float_data"));
        assertTrue(assertThrows(InvalidModelException.class, () -> Tensor.fromProto(negative)).getMessage()
                .contains("negative dimension"));
        assertTrue(assertThrows(InvalidModelException.class, () -> Tensor.fromProto(unknownType)).getMessage()
                .contains("unknown or undefined data type 99"));
    }

    @Test
    void halfPrecisionRoundTripsEveryBitPattern() {
        for (int bits = 0; bits < 0x10000; bits++) {
            float f = FloatFormats.halfToFloat((short) bits);
            if (Float.isNaN(f)) {
                assertTrue(Float.isNaN(FloatFormats.halfToFloat(FloatFormats.floatToHalf(f))));
            } else {
                assertEquals(bits, FloatFormats.floatToHalf(f) & 0xffff, "half 0x" + Integer.toHexString(bits));
            }
        }
    }

    @Test
    void halfPrecisionRoundsToNearestEvenAndOverflowsToInfinity() {
        assertEquals(1.0f, FloatFormats.halfToFloat(FloatFormats.floatToHalf(1.0f + 0x1p-11f))); // tie, to even
        assertEquals(1.0f + 0x1p-9f, FloatFormats.halfToFloat(FloatFormats.floatToHalf(1.0f + 0x1.8p-10f)));
        assertEquals(65504f, FloatFormats.halfToFloat(FloatFormats.floatToHalf(65519f)));
        assertEquals(Float.POSITIVE_INFINITY, FloatFormats.halfToFloat(FloatFormats.floatToHalf(65520f)));
        assertEquals(0x1p-24f, FloatFormats.halfToFloat(FloatFormats.floatToHalf(0x1.1p-25f)));
    }

    @Test
    void narrowFloatsKnowTheirLimits() {
        assertEquals(448.0, FloatFormats.decodeNarrow(DataType.FLOAT8E4M3FN, 0x7e));
        assertTrue(Double.isNaN(FloatFormats.decodeNarrow(DataType.FLOAT8E4M3FN, 0x7f)));
        assertEquals(0x7e, FloatFormats.encodeNarrow(DataType.FLOAT8E4M3FN, 1e6)); // saturates
        assertEquals(240.0, FloatFormats.decodeNarrow(DataType.FLOAT8E4M3FNUZ, 0x7f));
        assertTrue(Double.isNaN(FloatFormats.decodeNarrow(DataType.FLOAT8E4M3FNUZ, 0x80)));
        assertEquals(57344.0, FloatFormats.decodeNarrow(DataType.FLOAT8E5M2, 0x7b));
        assertEquals(Double.POSITIVE_INFINITY, FloatFormats.decodeNarrow(DataType.FLOAT8E5M2, 0x7c));
        assertEquals(1.0, FloatFormats.decodeNarrow(DataType.FLOAT8E4M3FN, 0x38));
        assertEquals(6.0, FloatFormats.decodeNarrow(DataType.FLOAT4E2M1, 0x7));
        assertEquals(0, FloatFormats.encodeNarrow(DataType.FLOAT8E4M3FNUZ, -0.0)); // no negative zero
        // 1.0625 lies halfway between 1.0 (0x38, even) and 1.125 (0x39): ties go to the even code
        assertEquals(0x38, FloatFormats.encodeNarrow(DataType.FLOAT8E4M3FN, 1.0625));
    }

    @Test
    void integerConversionRoundsAndSaturates() {
        Tensor t = Tensor.fromDoubles(DataType.INT8, new long[] {5}, new double[] {2.5, 3.5, -200, 300, Double.NaN});
        assertArrayEquals(new long[] {2, 4, -128, 127, 0}, t.toLongArray());
        Tensor u = Tensor.fromDoubles(DataType.UINT64, new long[] {2}, new double[] {0x1p63, -1});
        assertArrayEquals(new double[] {0x1p63, 0}, u.toDoubleArray());
    }
}
