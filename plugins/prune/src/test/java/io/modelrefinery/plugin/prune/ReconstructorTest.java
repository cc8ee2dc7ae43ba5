package io.modelrefinery.plugin.prune;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The reconstruction's algebra on a random layer, against direct computations. */
class ReconstructorTest {
    private static final int K = 24;
    private static final int ROWS = 6;

    private static double[][] random(Random random, int rows, int cols) {
        double[][] m = new double[rows][cols];
        for (double[] row : m) {
            for (int j = 0; j < cols; j++) {
                row[j] = random.nextGaussian();
            }
        }
        return m;
    }

    /** Squared output error of weights {@code w} on inputs {@code x} against {@code reference} on {@code x0}. */
    private static double error(double[][] reference, double[][] x0, double[][] w, double[][] x) {
        double e = 0;
        for (int n = 0; n < x.length; n++) {
            for (int r = 0; r < w.length; r++) {
                double a = 0;
                double b = 0;
                for (int j = 0; j < w[r].length; j++) {
                    a += reference[r][j] * x0[n][j];
                    b += w[r][j] * x[n][j];
                }
                e += (a - b) * (a - b);
            }
        }
        return e;
    }

    @Test
    void choleskyInverseInvertsASymmetricPositiveDefiniteMatrix() {
        double[][] a = random(new Random(1), 8, 8);
        double[][] spd = new double[8][8];
        for (int i = 0; i < 8; i++) {
            for (int j = 0; j < 8; j++) {
                for (int t = 0; t < 8; t++) {
                    spd[i][j] += a[t][i] * a[t][j];
                }
            }
            spd[i][i] += 0.1;
        }
        double[][] inverse = Reconstructor.inverseFromCholesky(Reconstructor.cholesky(spd));
        for (int i = 0; i < 8; i++) {
            for (int j = 0; j < 8; j++) {
                double s = 0;
                for (int t = 0; t < 8; t++) {
                    s += spd[i][t] * inverse[t][j];
                }
                assertEquals(i == j ? 1 : 0, s, 1e-9);
            }
        }
    }

    @Test
    void refitRecoversTheOriginalOutputsFromChangedInputs() {
        Random random = new Random(2);
        double[][] w = random(random, ROWS, K);
        double[][] x0 = random(random, 400, K);
        double[][] mix = random(random, K, K); // the pruned model's inputs: an invertible mix of the original's
        double[][] x = new double[x0.length][K];
        for (int n = 0; n < x0.length; n++) {
            for (int j = 0; j < K; j++) {
                x[n][j] = x0[n][j] + 0.3 * dot(mix[j], x0[n]);
            }
        }
        Reconstructor r = new Reconstructor(K, K, false);
        for (int n = 0; n < x.length; n++) {
            r.add(x0[n], x[n]);
        }
        double[][] refit = r.solve(w, w, K, null, 1e-9);

        assertTrue(error(w, x0, refit, x) < 1e-6 * error(w, x0, w, x),
                "refit error " + error(w, x0, refit, x) + " vs unchanged " + error(w, x0, w, x));
    }

    @Test
    void obsPruningErrsLessThanMagnitudeAtTheSameSparsity() {
        Random random = new Random(3);
        double[][] w = random(random, ROWS, K);
        double[][] x = random(random, 300, K);
        for (double[] row : x) { // correlated inputs, as real activations are
            for (int j = 1; j < K; j++) {
                row[j] = 0.7 * row[j - 1] + 0.3 * row[j];
            }
        }
        Reconstructor r = new Reconstructor(K, K, true);
        for (double[] row : x) {
            r.add(row, row);
        }
        long count = Math.round(0.5 * ROWS * K);
        double[][] obs = r.solve(w, w, K, Reconstructor.unstructured(count, K), 0.01);
        double[][][] magnitude = {copy(w)};
        MagnitudePruning.magnitude(magnitude, new PrunePattern(0, 0), count);

        long zeros = 0;
        for (double[] row : obs) {
            for (double v : row) {
                zeros += v == 0 ? 1 : 0;
            }
        }
        assertEquals(count, zeros);
        double obsError = error(w, x, obs, x);
        double magnitudeError = error(w, x, magnitude[0], x);
        assertTrue(obsError < 0.75 * magnitudeError, "OBS " + obsError + " vs magnitude " + magnitudeError);
    }

    @Test
    void nOfMKeepsNOfEveryMColumnsInEachRow() {
        Random random = new Random(4);
        double[][] w = random(random, ROWS, K);
        Reconstructor r = new Reconstructor(K, K, true);
        for (double[] row : random(random, 100, K)) {
            r.add(row, row);
        }
        double[][] pruned = r.solve(w, w, K, Reconstructor.nOfM(2, 4), 0.01);
        for (double[] row : pruned) {
            for (int g = 0; g < K; g += 4) {
                int kept = 0;
                for (int j = g; j < g + 4; j++) {
                    kept += row[j] != 0 ? 1 : 0;
                }
                assertEquals(2, kept);
            }
        }
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    private static double[][] copy(double[][] m) {
        double[][] c = new double[m.length][];
        for (int i = 0; i < m.length; i++) {
            c[i] = m[i].clone();
        }
        return c;
    }
}
