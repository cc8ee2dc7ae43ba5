package io.modelrefinery.plugin.quantize;

/**
 * How much quantizing a layer's weights changes what it computes, in dB (signal over noise). With the layer
 * Hessian {@code H = sum x x^T} of its calibration inputs, the output error over those inputs is exact
 * without running the model: {@code sum_rows d^T H d} for the weight error {@code d}, against
 * {@code sum_rows w^T H w} for the output itself (the product, before any bias).
 */
final class LayerError {
    private LayerError() {
    }

    /** SQNR of the layer's product on the calibration inputs summarised by {@code hessian}. */
    static double outputSqnr(float[] matrix, float[] quantized, int rows, int cols, double[] hessian) {
        double signal = 0;
        double noise = 0;
        double[] w = new double[cols];
        double[] d = new double[cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                w[c] = matrix[r * cols + c];
                d[c] = matrix[r * cols + c] - quantized[r * cols + c];
            }
            signal += quadratic(hessian, w, cols);
            noise += quadratic(hessian, d, cols);
        }
        return decibels(signal, noise);
    }

    /** SQNR of the weights themselves, for a layer without calibration inputs (an embedding table). */
    static double weightSqnr(float[] matrix, float[] quantized) {
        double signal = 0;
        double noise = 0;
        for (int i = 0; i < matrix.length; i++) {
            signal += (double) matrix[i] * matrix[i];
            double e = (double) matrix[i] - quantized[i];
            noise += e * e;
        }
        return decibels(signal, noise);
    }

    private static double quadratic(double[] h, double[] v, int n) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            if (v[i] == 0) {
                continue;
            }
            double row = 0;
            for (int j = 0; j < n; j++) {
                row += h[i * n + j] * v[j];
            }
            sum += v[i] * row;
        }
        return sum;
    }

    private static double decibels(double signal, double noise) {
        return noise <= 0 ? Double.POSITIVE_INFINITY : 10 * Math.log10(signal / noise);
    }
}
