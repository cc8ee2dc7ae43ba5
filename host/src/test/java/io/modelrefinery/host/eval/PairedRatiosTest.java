package io.modelrefinery.host.eval;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The paired latency ratio on synthetic timings with known truth: what a busy machine does to it, and what not. */
class PairedRatiosTest {
    /**
     * Pairs of a model taking {@code base} ms and one taking {@code ratio} times as long, on a machine that
     * slows a whole pair by up to 3x now and then (both models alike), adds 5% jitter to every run, and
     * stalls one run of a pair by 10x in {@code stalls} of the pairs.
     */
    private static double[][] timings(int pairs, double base, double ratio, double stalls, long seed) {
        Random random = new Random(seed);
        double[] before = new double[pairs];
        double[] after = new double[pairs];
        for (int i = 0; i < pairs; i++) {
            double load = random.nextDouble() < 0.3 ? 1 + 2 * random.nextDouble() : 1;
            before[i] = base * load * (1 + 0.05 * random.nextGaussian());
            after[i] = base * ratio * load * (1 + 0.05 * random.nextGaussian());
            if (random.nextDouble() < stalls) {
                if (random.nextBoolean()) {
                    before[i] *= 10;
                } else {
                    after[i] *= 10;
                }
            }
        }
        return new double[][] {before, after};
    }

    @Test
    void theMedianOfPairedRatiosFindsTheTrueRatioWhenLoadAndStallsHitTheRuns() {
        double[][] t = timings(200, 0.4, 1.8, 0.15, 1);

        PairedRatios r = PairedRatios.of(t[0], t[1], 200);

        assertEquals(1.8, r.ratio(), 0.03, r.toString());
        assertTrue(r.low() <= r.ratio() && r.ratio() <= r.high(), r.toString());
        assertTrue(r.noise() < 0.03, "200 pairs pin it down: " + r);
        assertTrue(r.above(1.0), "measurably slower: " + r);
        double meanRatio = mean(t[1]) / mean(t[0]);
        assertTrue(Math.abs(meanRatio - 1.8) > 0.1, "the ratio of means is thrown off by the stalls: " + meanRatio);
    }

    @Test
    void equalModelsAreNotMeasuredSlowerAndTheIntervalCoversOne() {
        int covered = 0;
        for (long seed = 0; seed < 200; seed++) {
            double[][] t = timings(40, 1.0, 1.0, 0.1, seed);
            PairedRatios r = PairedRatios.of(t[0], t[1], 40);
            covered += r.low() <= 1 && 1 <= r.high() ? 1 : 0;
        }
        assertTrue(covered >= 180, "a 95% interval covers the truth about 95% of the time: " + covered + " of 200");
    }

    @Test
    void fewPairsGiveAWideIntervalAndMorePairsANarrowerOne() {
        double[][] t = timings(400, 1.0, 1.1, 0.0, 3);

        PairedRatios five = PairedRatios.of(t[0], t[1], 5);
        PairedRatios all = PairedRatios.of(t[0], t[1], 400);

        assertEquals(5, five.pairs());
        assertTrue(five.noise() > 2 * all.noise(), five + " against " + all);
        assertTrue(all.above(1.0) && all.below(1.2), "10% slower, within 1 and 1.2: " + all);
    }

    @Test
    void theMedianOfAnEvenCountIsTheMeanOfTheMiddleTwo() {
        PairedRatios r = PairedRatios.of(new double[] {1, 1, 1, 1}, new double[] {1, 2, 3, 4}, 4);

        assertEquals(2.5, r.ratio(), 1e-12);
        assertEquals(1.0, r.low());
        assertEquals(4.0, r.high());
        assertEquals(1.5, r.noise(), 1e-12);
        assertFalse(r.above(1.0), "four pairs this spread say nothing");
    }

    @Test
    void timingStopsOnceTheRatioIsNarrowOrClearlyAwayFromOne() {
        assertTrue(LatencyComparison.stable(new PairedRatios(1.01, 1.0, 1.03, 100), false), "noise 0.015");
        assertTrue(LatencyComparison.stable(new PairedRatios(2.0, 1.8, 2.2, 60), true), "twice as slow, noise 0.2");
        assertFalse(LatencyComparison.stable(new PairedRatios(2.0, 1.8, 2.2, 20), false),
                "too few pairs to trust a large difference");
        assertFalse(LatencyComparison.stable(new PairedRatios(1.1, 0.95, 1.25, 60), true), "could be either");
    }

    @Test
    void refusesTimingsThatAreNotTimes() {
        assertThrows(IllegalArgumentException.class, () -> PairedRatios.of(new double[0], new double[0], 0));
        assertThrows(IllegalArgumentException.class, () -> PairedRatios.of(new double[] {0}, new double[] {1}, 1));
    }

    private static double mean(double[] values) {
        double sum = 0;
        for (double v : values) {
            sum += v;
        }
        return sum / values.length;
    }
}
