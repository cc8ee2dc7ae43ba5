package io.modelrefinery.plugin.quantize;

/**
 * A matrix quantized block-wise along its rows, as ONNX Runtime's MatMulNBits and GatherBlockQuantized read
 * it: each of {@code rows} rows holds {@code cols} values cut into blocks of {@code blockSize} (the last one
 * padded), every block with its own scale and zero point, and {@code real = scale * (code - zeroPoint)}.
 * For MatMulNBits a row is one output feature (a column of the MatMul's weight, K values); for an embedding
 * table it is one token's vector.
 *
 * @param codes unsigned codes in {@code [0, 2^bits)}, {@code rows * blocks * blockSize}, padding included
 * @param scales one per block, {@code rows * blocks}, row-major
 * @param zeroPoints one per block; whole numbers except after HQQ, which moves them off the integer grid
 * @param symmetric every zero point is {@code 2^(bits-1)}, the runtime's default, so none is stored
 */
record BlockQuantized(int rows, int cols, int bits, int blockSize, boolean symmetric, int[] codes, float[] scales,
                      float[] zeroPoints) {

    int blocks() {
        return blocks(cols, blockSize);
    }

    static int blocks(int cols, int blockSize) {
        return (cols + blockSize - 1) / blockSize;
    }

    /** Whether a zero point is off the integer grid (HQQ), so that it must be stored as a float. */
    boolean fractionalZeroPoints() {
        for (float z : zeroPoints) {
            if (z != Math.rint(z)) {
                return true;
            }
        }
        return false;
    }

    /** The values the runtime computes with, {@code rows * cols} row-major (padding dropped). */
    float[] dequantize() {
        int blocks = blocks();
        float[] out = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                int b = r * blocks + c / blockSize;
                out[r * cols + c] = scales[b] * (codes[(r * blocks) * blockSize + c] - zeroPoints[b]);
            }
        }
        return out;
    }
}
