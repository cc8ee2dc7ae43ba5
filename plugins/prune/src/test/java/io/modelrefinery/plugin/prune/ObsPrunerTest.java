package io.modelrefinery.plugin.prune;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** sparsegpt's parts on a random layer: exact OBS against SparseGPT's blocks, and the budget's spread. */
class ObsPrunerTest {
    private static final int K = 32;
    private static final int ROWS = 8;

    /** A layer of correlated inputs, as real activations are, whose rows matter unequally. */
    private static double[][] inputs(Random random) {
        double[][] x = new double[400][K];
        for (double[] row : x) {
            row[0] = random.nextGaussian();
            for (int j = 1; j < K; j++) {
                row[j] = 0.7 * row[j - 1] + 0.5 * random.nextGaussian();
            }
        }
        return x;
    }

    private static double error(double[][] reference, double[][] w, double[][] x) {
        double e = 0;
        for (double[] xn : x) {
            for (int r = 0; r < w.length; r++) {
                double d = 0;
                for (int j = 0; j < K; j++) {
                    d += (reference[r][j] - w[r][j]) * xn[j];
                }
                e += d * d;
            }
        }
        return e;
    }

    private static long zeros(double[][] w) {
        long n = 0;
        for (double[] row : w) {
            for (double v : row) {
                n += v == 0 ? 1 : 0;
            }
        }
        return n;
    }

    @Test
    void exactObsErrsLessThanSparseGptBlocksAndPrunesTheExactCount() {
        Random random = new Random(5);
        double[][] w = new double[ROWS][K];
        for (int r = 0; r < ROWS; r++) {
            for (int j = 0; j < K; j++) {
                w[r][j] = random.nextGaussian() * (1 + r); // later rows weigh more: they should keep more
            }
        }
        double[][] x = inputs(random);
        Reconstructor statistics = new Reconstructor(K, K, true);
        for (double[] row : x) {
            statistics.add(row, row);
        }
        long count = Math.round(0.75 * ROWS * K);
        double[][] blocked = statistics.solve(w, w, K, Reconstructor.unstructured(count, K), 0.01);
        double[][] exact = new ObsPruner(statistics.prepare(w, w, 0.01), K, 0, 0).weights(count);

        assertEquals(count, zeros(blocked));
        assertEquals(count, zeros(exact));
        double e = error(w, exact, x);
        double b = error(w, blocked, x);
        assertTrue(e < 0.8 * b, "exact OBS " + e + " vs SparseGPT blocks " + b);
        int keptFirst = 0;
        int keptLast = 0;
        for (int j = 0; j < K; j++) {
            keptFirst += exact[0][j] != 0 ? 1 : 0;
            keptLast += exact[ROWS - 1][j] != 0 ? 1 : 0;
        }
        assertTrue(keptLast > keptFirst, "rows keep " + keptFirst + " (small weights) and " + keptLast + " (large)");
    }

    @Test
    void nOfMRowsKeepNOfEveryM() {
        Random random = new Random(6);
        double[][] w = new double[ROWS][K];
        for (double[] row : w) {
            for (int j = 0; j < K; j++) {
                row[j] = random.nextGaussian();
            }
        }
        Reconstructor statistics = new Reconstructor(K, K, true);
        for (double[] row : inputs(random)) {
            statistics.add(row, row);
        }
        for (double[] row : new ObsPruner(statistics.prepare(w, w, 0.01), K, 2, 4).all()) {
            for (int g = 0; g < K; g += 4) {
                int kept = 0;
                for (int j = g; j < g + 4; j++) {
                    kept += row[j] != 0 ? 1 : 0;
                }
                assertEquals(2, kept);
            }
        }
    }

    @Test
    void theBudgetGoesFirstWhereItCostsLeastAndIsSpentExactly() {
        // a layer of 100 weights whose cost rises steeply past 50%, and one of 1,000 that hardly cares until 80%
        SensitivityBudget.Curve steep = new SensitivityBudget.Curve(100, new long[] {0, 50, 80, 90},
                new double[] {0, 0.05, 1.0, 2.0});
        SensitivityBudget.Curve flat = new SensitivityBudget.Curve(1000, new long[] {0, 500, 800, 900},
                new double[] {0, 0.01, 0.05, 0.5});
        long[] chosen = SensitivityBudget.spend(List.of(steep, flat), 850);

        assertArrayEquals(new long[] {50, 800}, chosen);
        assertArrayEquals(new long[] {50, 830}, SensitivityBudget.spend(List.of(steep, flat), 880));
        // a budget past every measured level still fits, each layer keeping a weight
        long[] all = SensitivityBudget.spend(List.of(steep, flat), 1090);
        assertEquals(1090, all[0] + all[1]);
        assertTrue(all[0] < 100 && all[1] < 1000);
    }
}
