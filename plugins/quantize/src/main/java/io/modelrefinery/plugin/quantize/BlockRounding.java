package io.modelrefinery.plugin.quantize;

/**
 * Round-to-nearest block quantization with the grids ONNX Runtime's own quantizer (MLAS) uses. Asymmetric:
 * the block's range widened to include zero, {@code 2^bits - 1} steps over it, an integer zero point.
 * Symmetric: the value of largest magnitude maps exactly onto the lowest code, {@code scale = v / -2^(bits-1)}
 * with the fixed zero point {@code 2^(bits-1)}, which spends all {@code 2^bits} codes on one block and lets the
 * zero point be left out of the model.
 */
final class BlockRounding {
    private BlockRounding() {
    }

    /** A block's grid. */
    record Grid(float scale, float zeroPoint, int maxCode) {
        int code(double value) {
            double q = Math.rint(value / scale + zeroPoint);
            return (int) Math.max(0, Math.min(maxCode, q));
        }

        double dequantize(int code) {
            return scale * (code - zeroPoint);
        }
    }

    /** The grid of {@code length} values of {@code values} from {@code offset}, every {@code stride}-th. */
    static Grid grid(float[] values, int offset, int length, int stride, int bits, boolean symmetric) {
        int maxCode = (1 << bits) - 1;
        if (symmetric) {
            float extreme = 0;
            for (int i = 0; i < length; i++) {
                float v = values[offset + i * stride];
                if (Math.abs(v) > Math.abs(extreme)) {
                    extreme = v;
                }
            }
            int half = 1 << (bits - 1);
            float scale = extreme / -half;
            return new Grid(scale == 0 ? 1f : scale, half, maxCode);
        }
        float min = 0;
        float max = 0;
        for (int i = 0; i < length; i++) {
            float v = values[offset + i * stride];
            min = Math.min(min, v);
            max = Math.max(max, v);
        }
        float scale = (float) (((double) max - min) / maxCode);
        if (scale == 0) {
            return new Grid(1f, 0, maxCode);
        }
        float zeroPoint = (float) Math.max(0, Math.min(maxCode, Math.rint(-min / (double) scale)));
        return new Grid(scale, zeroPoint, maxCode);
    }

    /**
     * Quantizes a {@code rows x cols} row-major matrix block-wise along its rows.
     *
     * @throws IllegalArgumentException if bits is not 2..8 or the block size is not a power of two of 16 or more
     */
    static BlockQuantized quantize(float[] matrix, int rows, int cols, int bits, int blockSize, boolean symmetric) {
        check(bits, blockSize);
        int blocks = BlockQuantized.blocks(cols, blockSize);
        int[] codes = new int[rows * blocks * blockSize];
        float[] scales = new float[rows * blocks];
        float[] zeroPoints = new float[rows * blocks];
        for (int r = 0; r < rows; r++) {
            for (int b = 0; b < blocks; b++) {
                int start = b * blockSize;
                int length = Math.min(blockSize, cols - start);
                Grid grid = grid(matrix, r * cols + start, length, 1, bits, symmetric);
                scales[r * blocks + b] = grid.scale();
                zeroPoints[r * blocks + b] = grid.zeroPoint();
                int base = (r * blocks + b) * blockSize;
                for (int i = 0; i < blockSize; i++) {
                    // padding gets the zero point: it dequantizes to 0 whatever the runtime does with it
                    codes[base + i] = i < length ? grid.code(matrix[r * cols + start + i]) : (int) grid.zeroPoint();
                }
            }
        }
        return new BlockQuantized(rows, cols, bits, blockSize, symmetric, codes, scales, zeroPoints);
    }

    static void check(int bits, int blockSize) {
        if (bits < 2 || bits > 8) {
            throw new IllegalArgumentException("bits must be 2 to 8, not " + bits);
        }
        if (blockSize < 16 || Integer.bitCount(blockSize) != 1) {
            throw new IllegalArgumentException("block size must be a power of two of 16 or more, not " + blockSize);
        }
    }

    /** The transpose of a {@code rows x cols} row-major matrix: a MatMul weight [K, N] as N rows of K. */
    static float[] transpose(float[] matrix, int rows, int cols) {
        float[] out = new float[matrix.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                out[c * rows + r] = matrix[r * cols + c];
            }
        }
        return out;
    }
}
