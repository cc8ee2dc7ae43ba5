package io.modelrefinery.plugin.quantize;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The entropy search's divergence from prefix sums against the same divergence bin by bin, on the shapes
 * activations have: ReLU outputs with a spike at zero, long tails, two-sided with outliers, mostly empty.
 */
class KlDivergenceTest {

    private static long[] histogram(int kind, Random random, int bins) {
        float[] values = new float[20_000 + random.nextInt(60_000)];
        for (int i = 0; i < values.length; i++) {
            double g = random.nextGaussian();
            values[i] = (float) switch (kind) {
                case 0 -> Math.max(0, g);
                case 1 -> Math.exp(2 * g);
                case 2 -> g * (random.nextInt(50) == 0 ? 8 : 1);
                default -> random.nextInt(20) == 0 ? g * g * g * g : 0;
            };
        }
        Histogram histogram = new Histogram(bins);
        histogram.add(values);
        long[] h = histogram.counts();
        h[0] = h[1];
        return h;
    }

    @Test
    void prefixSumsGiveTheBinByBinDivergenceOfEveryCandidate() {
        Random random = new Random(7);
        for (int trial = 0; trial < 16; trial++) {
            int levels = trial % 2 == 0 ? 128 : 256;
            KlDivergence kl = new KlDivergence(histogram(trial % 4, random, 2048), levels);
            for (int length = levels; length <= 2048; length += 13) {
                double exact = kl.binByBin(length);
                double fast = kl.of(length);
                if (Double.isInfinite(exact)) {
                    assertTrue(Double.isInfinite(fast), "trial " + trial + ", " + length + " bins");
                } else {
                    assertEquals(exact, fast, 1e-9 * Math.max(1, Math.abs(exact)), "trial " + trial + ", " + length + " bins");
                }
            }
        }
    }

    @Test
    void theSearchFindsTheThresholdTheBinByBinSearchFinds() {
        Random random = new Random(11);
        for (int trial = 0; trial < 8; trial++) {
            float[] values = new float[50_000];
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) (trial % 2 == 0 ? Math.max(0, random.nextGaussian()) : Math.exp(random.nextGaussian()));
            }
            Histogram histogram = new Histogram(2048);
            histogram.add(values);
            long[] h = histogram.counts();
            h[0] = h[1];
            KlDivergence kl = new KlDivergence(h, 128);
            int step = (2048 - 128) / 256;
            int coarse = argMin(kl, 128, 2048, step);
            int expected = argMin(kl, Math.max(128, coarse - step), Math.min(2048, coarse + step), 1);

            assertEquals(histogram.edge(expected), histogram.entropyThreshold(128), 1e-12, "trial " + trial);
        }
    }

    private static int argMin(KlDivergence kl, int from, int to, int step) {
        double best = Double.POSITIVE_INFINITY;
        int bestBins = to;
        for (int i = from; i <= to; i += step) {
            double d = kl.binByBin(i);
            if (d < best) {
                best = d;
                bestBins = i;
            }
        }
        return bestBins;
    }

    @Test
    void anAlmostEmptyHistogramKeepsTheBinByBinDivergence() {
        long[] h = new long[2048];
        h[0] = 5;
        h[1] = 5;
        h[2000] = 1;
        KlDivergence kl = new KlDivergence(h, 128);

        // 128 bins: 126 empty of 128, the smoothing share is still small; beyond, it is not (bin by bin).
        for (int length : new int[] {128, 1000, 2001, 2048}) {
            assertEquals(kl.binByBin(length), kl.of(length), 1e-9 * kl.binByBin(length), length + " bins");
        }
        assertEquals(kl.binByBin(1000), kl.of(1000), 0, "computed bin by bin");
    }
}
