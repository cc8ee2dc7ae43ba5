package io.modelrefinery.api.onnx;

import java.util.Arrays;

/**
 * Conversions between {@code float}/{@code double} and ONNX's narrow floating-point formats: IEEE half
 * precision, bfloat16, the four float8 variants, float8 E8M0 and float4 E2M1. Narrowing rounds to the
 * nearest value, ties to even, and saturates out-of-range finite values to the largest finite value, as
 * ONNX's {@code Cast} does by default.
 */
public final class FloatFormats {
    private FloatFormats() {
    }

    /** IEEE 754 binary16 bits to float (exact). */
    public static float halfToFloat(short half) {
        int h = half & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1f;
        int mant = h & 0x3ff;
        if (exp == 0) {
            float magnitude = mant * 0x1p-24f;
            return sign == 0 ? magnitude : -magnitude;
        }
        if (exp == 31) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    /** Float to IEEE 754 binary16 bits, rounding to nearest even; too large values become infinity. */
    public static short floatToHalf(float value) {
        int bits = Float.floatToRawIntBits(value);
        int sign = (bits >>> 16) & 0x8000;
        int abs = bits & 0x7fffffff;
        if (abs >= 0x7f800000) {
            return (short) (abs > 0x7f800000 ? sign | 0x7e00 | ((abs >>> 13) & 0x3ff) : sign | 0x7c00);
        }
        if (abs >= 0x477ff000) { // 65520 and above round to infinity
            return (short) (sign | 0x7c00);
        }
        if (abs >= 0x38800000) { // normal half: rebias the exponent from 127 to 15
            int h = (abs - 0x38000000) >>> 13;
            int rest = abs & 0x1fff;
            if (rest > 0x1000 || (rest == 0x1000 && (h & 1) == 1)) {
                h++;
            }
            return (short) (sign | h);
        }
        if (abs < 0x33000000) { // below half the smallest subnormal
            return (short) sign;
        }
        int exp = abs >>> 23;
        int mant = (abs & 0x7fffff) | 0x800000;
        int shift = 126 - exp;
        int h = mant >>> shift;
        int rest = mant & ((1 << shift) - 1);
        int halfway = 1 << (shift - 1);
        if (rest > halfway || (rest == halfway && (h & 1) == 1)) {
            h++;
        }
        return (short) (sign | h);
    }

    /** bfloat16 bits to float (exact). */
    public static float bfloat16ToFloat(short bf16) {
        return Float.intBitsToFloat((bf16 & 0xffff) << 16);
    }

    /** Float to bfloat16 bits, rounding to nearest even. */
    public static short floatToBfloat16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if ((bits & 0x7fffffff) > 0x7f800000) {
            return (short) ((bits >>> 16) | 0x40);
        }
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    /** Decodes one element of a float8 or float4 type from its bit pattern. */
    public static double decodeNarrow(DataType type, int code) {
        return table(type).decode[code & table(type).mask];
    }

    /** Encodes a value into a float8 or float4 type's bit pattern. */
    public static int encodeNarrow(DataType type, double value) {
        return table(type).encode(value);
    }

    private static NarrowFormat table(DataType type) {
        switch (type) {
            case FLOAT8E4M3FN: return NarrowFormat.E4M3FN;
            case FLOAT8E4M3FNUZ: return NarrowFormat.E4M3FNUZ;
            case FLOAT8E5M2: return NarrowFormat.E5M2;
            case FLOAT8E5M2FNUZ: return NarrowFormat.E5M2FNUZ;
            case FLOAT8E8M0: return NarrowFormat.E8M0;
            case FLOAT4E2M1: return NarrowFormat.E2M1;
            default: throw new IllegalArgumentException(type + " is not a float8 or float4 type");
        }
    }

    /**
     * A narrow format described by its decode table; encoding searches the sorted non-negative values,
     * so the table is the single definition of each format.
     */
    private static final class NarrowFormat {
        static final NarrowFormat E4M3FN = minifloat(4, 3, 7, Special.NAN_ALL_ONES);
        static final NarrowFormat E4M3FNUZ = minifloat(4, 3, 8, Special.NAN_NEGATIVE_ZERO);
        static final NarrowFormat E5M2 = minifloat(5, 2, 15, Special.IEEE);
        static final NarrowFormat E5M2FNUZ = minifloat(5, 2, 16, Special.NAN_NEGATIVE_ZERO);
        static final NarrowFormat E2M1 = minifloat(2, 1, 1, Special.NONE);
        static final NarrowFormat E8M0 = powersOfTwo();

        enum Special { NONE, IEEE, NAN_ALL_ONES, NAN_NEGATIVE_ZERO }

        final double[] decode;
        final int mask;
        final int signBit; // 0 when the format has no sign
        final boolean negativeZero;
        final int nanCode;
        final int infinityCode; // -1 when infinities saturate instead
        final double[] sortedValues; // finite non-negative values, ascending
        final int[] sortedCodes;

        private NarrowFormat(double[] decode, int signBit, boolean negativeZero, int nanCode, int infinityCode) {
            this.decode = decode;
            this.mask = decode.length - 1;
            this.signBit = signBit;
            this.negativeZero = negativeZero;
            this.nanCode = nanCode;
            this.infinityCode = infinityCode;
            int positives = signBit == 0 ? decode.length : signBit;
            Integer[] codes = new Integer[positives];
            int n = 0;
            for (int code = 0; code < positives; code++) {
                if (Double.isFinite(decode[code])) {
                    codes[n++] = code;
                }
            }
            Integer[] finite = Arrays.copyOf(codes, n);
            Arrays.sort(finite, (a, b) -> Double.compare(decode[a], decode[b]));
            sortedValues = new double[n];
            sortedCodes = new int[n];
            for (int i = 0; i < n; i++) {
                sortedCodes[i] = finite[i];
                sortedValues[i] = decode[finite[i]];
            }
        }

        static NarrowFormat minifloat(int expBits, int mantBits, int bias, Special special) {
            int size = 1 << (1 + expBits + mantBits);
            int signBit = size >>> 1;
            int maxExp = (1 << expBits) - 1;
            int mantMask = (1 << mantBits) - 1;
            double[] decode = new double[size];
            for (int code = 0; code < size; code++) {
                int exp = (code >>> mantBits) & maxExp;
                int mant = code & mantMask;
                double magnitude = exp == 0
                        ? mant * Math.pow(2, 1 - bias - mantBits)
                        : (1 + mant / (double) (1 << mantBits)) * Math.pow(2, exp - bias);
                if (special == Special.IEEE && exp == maxExp) {
                    magnitude = mant == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
                } else if (special == Special.NAN_ALL_ONES && exp == maxExp && mant == mantMask) {
                    magnitude = Double.NaN;
                }
                decode[code] = (code & signBit) != 0 ? -magnitude : magnitude;
            }
            int nanCode;
            int infinityCode = -1;
            boolean negativeZero = true;
            switch (special) {
                case NAN_NEGATIVE_ZERO:
                    decode[signBit] = Double.NaN;
                    nanCode = signBit;
                    negativeZero = false;
                    break;
                case IEEE:
                    nanCode = (maxExp << mantBits) | mantMask;
                    infinityCode = maxExp << mantBits;
                    break;
                case NAN_ALL_ONES:
                    nanCode = (maxExp << mantBits) | mantMask;
                    break;
                default:
                    nanCode = -1;
            }
            return new NarrowFormat(decode, signBit, negativeZero, nanCode, infinityCode);
        }

        static NarrowFormat powersOfTwo() {
            double[] decode = new double[256];
            for (int code = 0; code < 255; code++) {
                decode[code] = Math.pow(2, code - 127);
            }
            decode[255] = Double.NaN;
            return new NarrowFormat(decode, 0, false, 255, -1);
        }

        int encode(double value) {
            if (Double.isNaN(value)) {
                return nanCode >= 0 ? nanCode : 0;
            }
            boolean negative = value < 0 || (value == 0 && 1 / value < 0);
            double magnitude = Math.abs(value);
            int code;
            if (Double.isInfinite(magnitude) && infinityCode >= 0) {
                code = infinityCode;
            } else {
                code = nearest(magnitude);
            }
            if (negative && signBit != 0 && (negativeZero || decode[code] != 0)) {
                code |= signBit;
            }
            return code;
        }

        private int nearest(double magnitude) {
            int last = sortedValues.length - 1;
            if (magnitude >= sortedValues[last]) {
                return sortedCodes[last];
            }
            int idx = Arrays.binarySearch(sortedValues, magnitude);
            if (idx >= 0) {
                return sortedCodes[idx];
            }
            int above = -idx - 1;
            if (above == 0) {
                return sortedCodes[0];
            }
            int below = above - 1;
            double down = magnitude - sortedValues[below];
            double up = sortedValues[above] - magnitude;
            if (down < up) {
                return sortedCodes[below];
            }
            if (up < down) {
                return sortedCodes[above];
            }
            return (sortedCodes[below] & 1) == 0 ? sortedCodes[below] : sortedCodes[above];
        }
    }
}
