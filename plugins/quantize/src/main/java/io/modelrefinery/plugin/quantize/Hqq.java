package io.modelrefinery.plugin.quantize;

/**
 * Half-quadratic quantization (HQQ, Badri and Shaji, 2023), without data: each block keeps the scale of
 * round-to-nearest and moves its zero point off the integer grid to where the rounding error has the least
 * {@code l_p} norm ({@code p < 1}, which favours many exact values and a few large errors over many middling
 * ones), solved by alternating a generalised soft-threshold of the error with the zero point's closed form.
 * The block keeps whichever zero point, RTN's or HQQ's, leaves the smaller squared error. Asymmetric only:
 * a symmetric grid has no zero point to move.
 */
final class Hqq {
    private static final double P = 0.7;
    private static final double BETA = 10;
    private static final double KAPPA = 1.01;
    private static final int ITERATIONS = 20;

    private Hqq() {
    }

    static BlockQuantized quantize(float[] matrix, int rows, int cols, int bits, int blockSize) {
        BlockQuantized rtn = BlockRounding.quantize(matrix, rows, cols, bits, blockSize, false);
        int blocks = rtn.blocks();
        int[] codes = rtn.codes().clone();
        float[] zeroPoints = rtn.zeroPoints().clone();
        int maxCode = (1 << bits) - 1;
        double[] w = new double[blockSize];
        double[] shrunk = new double[blockSize];
        for (int r = 0; r < rows; r++) {
            for (int b = 0; b < blocks; b++) {
                int start = b * blockSize;
                int length = Math.min(blockSize, cols - start);
                for (int i = 0; i < length; i++) {
                    w[i] = matrix[r * cols + start + i];
                }
                int at = r * blocks + b;
                double scale = rtn.scales()[at];
                double z = zeroPoints[at];
                double best = squaredError(w, length, scale, z, maxCode);
                double bestZ = z;
                double beta = BETA;
                for (int it = 0; it < ITERATIONS; it++) {
                    double sum = 0;
                    for (int i = 0; i < length; i++) {
                        double q = code(w[i], scale, z, maxCode);
                        double e = w[i] - scale * (q - z);
                        double magnitude = Math.abs(e);
                        shrunk[i] = Math.signum(e) * Math.max(0, magnitude - Math.pow(magnitude, P - 1) / beta);
                        sum += q - (w[i] - shrunk[i]) / scale;
                    }
                    z = sum / length;
                    beta *= KAPPA;
                    double error = squaredError(w, length, scale, z, maxCode);
                    if (error < best) {
                        best = error;
                        bestZ = z;
                    }
                }
                zeroPoints[at] = (float) bestZ;
                for (int i = 0; i < blockSize; i++) {
                    codes[at * blockSize + i] = i < length ? (int) code(w[i], scale, zeroPoints[at], maxCode)
                            : (int) Math.max(0, Math.min(maxCode, Math.rint(zeroPoints[at])));
                }
            }
        }
        return new BlockQuantized(rows, cols, bits, blockSize, false, codes, rtn.scales(), zeroPoints);
    }

    private static double code(double value, double scale, double zeroPoint, int maxCode) {
        return Math.max(0, Math.min(maxCode, Math.rint(value / scale + zeroPoint)));
    }

    private static double squaredError(double[] w, int length, double scale, double z, int maxCode) {
        double sum = 0;
        for (int i = 0; i < length; i++) {
            double e = w[i] - scale * (code(w[i], scale, z, maxCode) - z);
            sum += e * e;
        }
        return sum;
    }
}
