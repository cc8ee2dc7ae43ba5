package io.modelrefinery.plugin.quantize;

/**
 * GPTQ (Frantar et al., 2022): quantizes a layer's weights one input feature at a time and, after each, moves
 * the rounding error onto the features not yet quantized, weighted by the inverse of the layer Hessian
 * {@code H = sum x x^T} over the calibration inputs, so that the layer's output on those inputs changes as
 * little as the grid allows. Each block's grid is chosen when the walk reaches the block, from the weights as
 * the earlier updates left them, as in the reference implementation (no activation reordering: the runtime's
 * block layout is in input order).
 */
final class Gptq {
    private Gptq() {
    }

    /**
     * Quantizes {@code matrix} ({@code rows} output features of {@code cols} inputs, row-major).
     *
     * @param hessian {@code cols x cols}, the sum of {@code x x^T} over the layer's input rows; left unchanged
     * @param damping share of the mean diagonal added to it, so that it can be inverted (0.01 in the paper)
     */
    static BlockQuantized quantize(float[] matrix, int rows, int cols, double[] hessian, int bits, int blockSize,
                                   boolean symmetric, double damping) {
        BlockRounding.check(bits, blockSize);
        float[] w = matrix.clone();
        double[] h = hessian.clone();
        int k = cols;
        double mean = 0;
        for (int i = 0; i < k; i++) {
            mean += h[i * k + i];
        }
        mean = Math.max(mean / k, Double.MIN_NORMAL);
        for (int i = 0; i < k; i++) {
            if (h[i * k + i] == 0) {
                // an input that is always zero: its weights never matter, and zero rounds exactly
                h[i * k + i] = 1;
                for (int r = 0; r < rows; r++) {
                    w[r * k + i] = 0;
                }
            }
        }
        double[] u = null;
        for (double d = damping; u == null; d *= 10) {
            double[] damped = h.clone();
            for (int i = 0; i < k; i++) {
                damped[i * k + i] += d * mean;
            }
            u = upperCholeskyOfInverse(damped, k);
            if (d > 1e6) {
                throw new IllegalStateException("the layer Hessian cannot be inverted");
            }
        }
        int blocks = BlockQuantized.blocks(cols, blockSize);
        int[] codes = new int[rows * blocks * blockSize];
        float[] scales = new float[rows * blocks];
        float[] zeroPoints = new float[rows * blocks];
        BlockRounding.Grid[] grids = new BlockRounding.Grid[rows];
        for (int i = 0; i < k; i++) {
            int b = i / blockSize;
            if (i % blockSize == 0) {
                int length = Math.min(blockSize, cols - i);
                for (int r = 0; r < rows; r++) {
                    grids[r] = BlockRounding.grid(w, r * k + i, length, 1, bits, symmetric);
                    scales[r * blocks + b] = grids[r].scale();
                    zeroPoints[r * blocks + b] = grids[r].zeroPoint();
                }
            }
            double pivot = u[i * k + i];
            for (int r = 0; r < rows; r++) {
                int at = r * k;
                int code = grids[r].code(w[at + i]);
                codes[(r * blocks + b) * blockSize + i % blockSize] = code;
                double error = (w[at + i] - grids[r].dequantize(code)) / pivot;
                for (int j = i + 1; j < k; j++) {
                    w[at + j] -= (float) (error * u[i * k + j]);
                }
            }
        }
        for (int r = 0; r < rows; r++) {
            for (int i = cols; i < blocks * blockSize; i++) {
                codes[(r * blocks + blocks - 1) * blockSize + i % blockSize] = (int) zeroPoints[r * blocks + blocks - 1];
            }
        }
        return new BlockQuantized(rows, cols, bits, blockSize, symmetric, codes, scales, zeroPoints);
    }

    /**
     * The upper triangular {@code U} with {@code H^-1 = U^T U}, or {@code null} if {@code H} is not positive
     * definite. {@code H = R R^T} with {@code R} upper (Cholesky of the matrix with its order reversed) gives
     * {@code H^-1 = R^-T R^-1}, so {@code U = R^-1}: one factorization and one triangular inverse.
     */
    static double[] upperCholeskyOfInverse(double[] h, int k) {
        double[] l = new double[k * k];
        for (int i = 0; i < k; i++) {
            for (int j = 0; j <= i; j++) {
                double sum = h[(k - 1 - i) * k + (k - 1 - j)];
                for (int p = 0; p < j; p++) {
                    sum -= l[i * k + p] * l[j * k + p];
                }
                if (i == j) {
                    if (!(sum > 0)) {
                        return null;
                    }
                    l[i * k + i] = Math.sqrt(sum);
                } else {
                    l[i * k + j] = sum / l[j * k + j];
                }
            }
        }
        double[] r = new double[k * k];
        for (int i = 0; i < k; i++) {
            for (int j = 0; j <= i; j++) {
                r[(k - 1 - i) * k + (k - 1 - j)] = l[i * k + j];
            }
        }
        double[] u = new double[k * k];
        double[] row = new double[k];
        for (int i = k - 1; i >= 0; i--) {
            java.util.Arrays.fill(row, 0);
            for (int p = i + 1; p < k; p++) {
                double rip = r[i * k + p];
                if (rip != 0) {
                    for (int j = p; j < k; j++) {
                        row[j] += rip * u[p * k + j];
                    }
                }
            }
            double inv = 1 / r[i * k + i];
            u[i * k + i] = inv;
            for (int j = i + 1; j < k; j++) {
                u[i * k + j] = -row[j] * inv;
            }
        }
        return u;
    }
}
