package io.modelrefinery.api.onnx;

import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;

/**
 * ONNX tensor element types with what the IR needs to know about each: width in bits, numeric kind and
 * which typed {@link TensorProto} field stores it when {@code raw_data} is not used.
 */
public enum DataType {
    UNDEFINED(0, 0, Kind.NONE, Storage.NONE),
    FLOAT(1, 32, Kind.FLOAT, Storage.FLOAT_DATA),
    UINT8(2, 8, Kind.UNSIGNED, Storage.INT32_DATA),
    INT8(3, 8, Kind.SIGNED, Storage.INT32_DATA),
    UINT16(4, 16, Kind.UNSIGNED, Storage.INT32_DATA),
    INT16(5, 16, Kind.SIGNED, Storage.INT32_DATA),
    INT32(6, 32, Kind.SIGNED, Storage.INT32_DATA),
    INT64(7, 64, Kind.SIGNED, Storage.INT64_DATA),
    STRING(8, 0, Kind.STRING, Storage.STRING_DATA),
    BOOL(9, 8, Kind.BOOL, Storage.INT32_DATA),
    FLOAT16(10, 16, Kind.FLOAT, Storage.INT32_DATA),
    DOUBLE(11, 64, Kind.FLOAT, Storage.DOUBLE_DATA),
    UINT32(12, 32, Kind.UNSIGNED, Storage.UINT64_DATA),
    UINT64(13, 64, Kind.UNSIGNED, Storage.UINT64_DATA),
    COMPLEX64(14, 64, Kind.COMPLEX, Storage.FLOAT_DATA),
    COMPLEX128(15, 128, Kind.COMPLEX, Storage.DOUBLE_DATA),
    BFLOAT16(16, 16, Kind.FLOAT, Storage.INT32_DATA),
    FLOAT8E4M3FN(17, 8, Kind.FLOAT, Storage.INT32_DATA),
    FLOAT8E4M3FNUZ(18, 8, Kind.FLOAT, Storage.INT32_DATA),
    FLOAT8E5M2(19, 8, Kind.FLOAT, Storage.INT32_DATA),
    FLOAT8E5M2FNUZ(20, 8, Kind.FLOAT, Storage.INT32_DATA),
    UINT4(21, 4, Kind.UNSIGNED, Storage.INT32_DATA),
    INT4(22, 4, Kind.SIGNED, Storage.INT32_DATA),
    FLOAT4E2M1(23, 4, Kind.FLOAT, Storage.INT32_DATA),
    FLOAT8E8M0(24, 8, Kind.FLOAT, Storage.INT32_DATA),
    UINT2(25, 2, Kind.UNSIGNED, Storage.INT32_DATA),
    INT2(26, 2, Kind.SIGNED, Storage.INT32_DATA);

    /** What the elements are. */
    public enum Kind { NONE, FLOAT, SIGNED, UNSIGNED, BOOL, COMPLEX, STRING }

    /** The typed {@link TensorProto} field that holds elements of a type when raw_data is not used. */
    public enum Storage { NONE, FLOAT_DATA, INT32_DATA, INT64_DATA, DOUBLE_DATA, UINT64_DATA, STRING_DATA }

    private static final DataType[] BY_CODE = new DataType[27];

    static {
        for (DataType type : values()) {
            BY_CODE[type.code] = type;
        }
    }

    private final int code;
    private final int bits;
    private final Kind kind;
    private final Storage storage;

    DataType(int code, int bits, Kind kind, Storage storage) {
        this.code = code;
        this.bits = bits;
        this.kind = kind;
        this.storage = storage;
    }

    /** The {@code TensorProto.DataType} number. */
    public int code() {
        return code;
    }

    /** Width of one element in bits; 0 for STRING and UNDEFINED. Complex types count both parts. */
    public int bits() {
        return bits;
    }

    public Kind kind() {
        return kind;
    }

    public Storage storage() {
        return storage;
    }

    /** True for the types whose elements are real numbers (every type but STRING, COMPLEX and UNDEFINED). */
    public boolean isNumeric() {
        return kind == Kind.FLOAT || kind == Kind.SIGNED || kind == Kind.UNSIGNED || kind == Kind.BOOL;
    }

    public boolean isFloatingPoint() {
        return kind == Kind.FLOAT;
    }

    /** How many elements share one byte (types narrower than 8 bits are packed), otherwise 1. */
    public int elementsPerByte() {
        return bits > 0 && bits < 8 ? 8 / bits : 1;
    }

    /** How many elements one {@code int32_data} entry carries: packed types carry several. */
    public int elementsPerInt32Entry() {
        return elementsPerByte();
    }

    /**
     * Bytes needed for {@code elements} elements in raw_data, packed types rounded up to whole bytes.
     *
     * @throws ArithmeticException on overflow
     */
    public long byteSize(long elements) {
        if (bits == 0) {
            throw new IllegalStateException(this + " has no fixed width");
        }
        if (bits < 8) {
            long perByte = elementsPerByte();
            return (elements + perByte - 1) / perByte;
        }
        return Math.multiplyExact(elements, bits / 8);
    }

    /** The type for an ONNX type number, or {@code null} if the number is not a known type. */
    public static DataType fromCode(int code) {
        return code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
    }

    /** Same as {@link #fromCode} but failing with a message that says what carried the bad number. */
    public static DataType require(int code, String what) {
        DataType type = fromCode(code);
        if (type == null || type == UNDEFINED) {
            throw new InvalidModelException(what + " has unknown or undefined data type " + code);
        }
        return type;
    }

    public TensorProto.DataType toProto() {
        return TensorProto.DataType.forNumber(code);
    }
}
