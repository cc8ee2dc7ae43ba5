package io.modelrefinery.plugin.quantize;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Block quantization without a runtime: the packed bytes read back by a reference decoder written from the
 * contrib operator spec (not from {@link NBitsPacking}), the rounding within half a step, GPTQ against
 * round-to-nearest on correlated inputs, HQQ against round-to-nearest on the weights.
 */
class BlockQuantizationTest {
    private static float[] gaussian(int n, double sd, long seed) {
        Random random = new Random(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) (random.nextGaussian() * sd);
        }
        return out;
    }

    /**
     * MatMulNBits' dequantization as the spec states it: B is [N, blocks, blob] with the k-th value of a block
     * in byte k*bits/8, low bits first; scales [N * blocks]; zero points [N, ceil(blocks*bits/8)] packed the
     * same way per row, or 2^(bits-1) when absent. Returns W as [N, K].
     */
    private static float[] specDequantize(byte[] b, float[] scales, byte[] zeroPoints, int n, int k, int bits,
                                          int blockSize) {
        int blocks = (k + blockSize - 1) / blockSize;
        int blob = blockSize * bits / 8;
        int zpRow = (blocks * bits + 7) / 8;
        float[] w = new float[n * k];
        for (int row = 0; row < n; row++) {
            for (int col = 0; col < k; col++) {
                int block = col / blockSize;
                int inBlock = col % blockSize;
                int bit = inBlock * bits;
                int code = (b[(row * blocks + block) * blob + bit / 8] & 0xff) >> (bit % 8) & ((1 << bits) - 1);
                int zp;
                if (zeroPoints == null) {
                    zp = 1 << (bits - 1);
                } else {
                    int zbit = block * bits;
                    zp = (zeroPoints[row * zpRow + zbit / 8] & 0xff) >> (zbit % 8) & ((1 << bits) - 1);
                }
                w[row * k + col] = scales[row * blocks + block] * (code - zp);
            }
        }
        return w;
    }

    @ParameterizedTest(name = "bits {0}, block {1}, symmetric {2}, K {3}")
    @CsvSource({"4, 32, false, 64", "4, 32, true, 64", "4, 16, false, 72", "4, 64, true, 100", "8, 32, false, 64",
            "8, 128, true, 200", "4, 128, false, 520", "2, 16, false, 48"})
    void packedBytesDecodeAsTheSpecSays(int bits, int blockSize, boolean symmetric, int k) {
        int n = 7;
        float[] w = gaussian(n * k, 0.05, k * 31L + bits);
        BlockQuantized q = BlockRounding.quantize(w, n, k, bits, blockSize, symmetric);
        int blocks = q.blocks();
        byte[] packed = NBitsPacking.weights(q);
        assertEquals(n * blocks * blockSize * bits / 8, packed.length, "[N, blocks, blob]");
        float[] decoded = specDequantize(packed, q.scales(), symmetric ? null : NBitsPacking.zeroPoints(q), n, k, bits,
                blockSize);
        assertArrayEquals(q.dequantize(), decoded, 0f, "what the runtime reads is what Java computed");
        for (int row = 0; row < n; row++) {
            for (int col = 0; col < k; col++) {
                float step = Math.abs(q.scales()[row * blocks + col / blockSize]);
                double error = Math.abs(w[row * k + col] - decoded[row * k + col]);
                // symmetric grids clip the opposite extreme by up to one step; asymmetric ones never clip
                assertTrue(error <= step * (symmetric ? 1.0001 : 0.5001), "value " + col + " of row " + row + ": error "
                        + error + ", step " + step);
            }
        }
    }

    @Test
    void tableRowsPackAlongTheRowAndDropThePadding() {
        float[] table = gaussian(3 * 40, 1, 5);
        BlockQuantized q = BlockRounding.quantize(table, 3, 40, 4, 32, false);
        byte[] data = NBitsPacking.tableRows(q);
        assertEquals(3 * 20, data.length);
        for (int r = 0; r < 3; r++) {
            for (int c = 0; c < 40; c++) {
                int code = (data[r * 20 + c / 2] & 0xff) >> (4 * (c % 2)) & 15;
                assertEquals(q.codes()[r * 64 + c], code, "row " + r + " value " + c);
            }
        }
    }

    @Test
    void symmetricGridPutsTheLargestMagnitudeOnTheLowestCode() {
        float[] w = {0.5f, -2f, 1.75f, 0f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        BlockQuantized q = BlockRounding.quantize(w, 1, 16, 4, 16, true);
        assertEquals(0.25f, q.scales()[0], 0f, "-2 / -8");
        assertEquals(0, q.codes()[1], "-2 exactly at code 0");
        assertEquals(15, q.codes()[2], "1.75 = 0.25 * (15 - 8)");
        assertEquals(8, q.codes()[3], "zero at the zero point");
    }

    /** Inputs in a low-dimensional subspace plus a little noise: features strongly correlated. */
    private static double[] correlatedHessian(int k, long seed) {
        Random random = new Random(seed);
        int factors = 6;
        int samples = 2000;
        double[][] mix = new double[factors][k];
        for (double[] m : mix) {
            for (int i = 0; i < k; i++) {
                m[i] = random.nextGaussian();
            }
        }
        double[] h = new double[k * k];
        double[] x = new double[k];
        for (int s = 0; s < samples; s++) {
            java.util.Arrays.fill(x, 0);
            for (double[] m : mix) {
                double z = random.nextGaussian();
                for (int i = 0; i < k; i++) {
                    x[i] += z * m[i];
                }
            }
            for (int i = 0; i < k; i++) {
                x[i] += 0.05 * random.nextGaussian();
            }
            for (int i = 0; i < k; i++) {
                for (int j = 0; j < k; j++) {
                    h[i * k + j] += x[i] * x[j];
                }
            }
        }
        return h;
    }

    @Test
    void gptqBeatsRoundingToNearestOnCorrelatedInputs() {
        int k = 128;
        int n = 24;
        float[] w = gaussian(n * k, 0.05, 11);
        double[] h = correlatedHessian(k, 12);
        for (int bits : new int[] {4, 8}) {
            double rtn = LayerError.outputSqnr(w, BlockRounding.quantize(w, n, k, bits, 32, false).dequantize(), n, k, h);
            double gptq = LayerError.outputSqnr(w, Gptq.quantize(w, n, k, h, bits, 32, false, 0.01).dequantize(), n, k, h);
            assertTrue(gptq > rtn + 3, bits + " bits: GPTQ " + gptq + " dB, RTN " + rtn + " dB");
        }
    }

    @Test
    void gptqWithAnIdentityHessianIsRoundingToNearest() {
        int k = 64;
        int n = 5;
        float[] w = gaussian(n * k, 0.05, 3);
        double[] identity = new double[k * k];
        for (int i = 0; i < k; i++) {
            identity[i * k + i] = 1;
        }
        assertArrayEquals(BlockRounding.quantize(w, n, k, 4, 32, true).codes(),
                Gptq.quantize(w, n, k, identity, 4, 32, true, 0.01).codes(), "uncorrelated inputs: nothing to compensate");
    }

    @Test
    void inverseFactorIsTheUpperCholeskyOfTheInverse() {
        int k = 9;
        double[] h = correlatedHessian(k, 4);
        for (int i = 0; i < k; i++) {
            h[i * k + i] += 1;
        }
        double[] u = Gptq.upperCholeskyOfInverse(h, k);
        // (U^T U) H = I
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < k; j++) {
                double sum = 0;
                for (int p = 0; p < k; p++) {
                    double inv = 0;
                    for (int q = 0; q < k; q++) {
                        inv += u[q * k + i] * u[q * k + p];
                    }
                    sum += inv * h[p * k + j];
                }
                assertEquals(i == j ? 1 : 0, sum, 1e-8, "(" + i + ", " + j + ")");
            }
            for (int j = 0; j < i; j++) {
                assertEquals(0, u[i * k + j], 0, "upper triangular");
            }
        }
    }

    @Test
    void hqqLowersTheWeightErrorOfRoundingToNearest() {
        int k = 256;
        int n = 16;
        float[] w = gaussian(n * k, 0.05, 21);
        BlockQuantized rtn = BlockRounding.quantize(w, n, k, 4, 64, false);
        BlockQuantized hqq = Hqq.quantize(w, n, k, 4, 64);
        double rtnSqnr = LayerError.weightSqnr(w, rtn.dequantize());
        double hqqSqnr = LayerError.weightSqnr(w, hqq.dequantize());
        assertTrue(hqq.fractionalZeroPoints(), "zero points off the grid");
        assertTrue(hqqSqnr > rtnSqnr + 0.1, "HQQ " + hqqSqnr + " dB, RTN " + rtnSqnr + " dB");
    }
}
