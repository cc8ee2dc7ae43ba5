package io.modelrefinery.host.eval;

import java.util.Arrays;

/**
 * The ratio of two models' run times, estimated from pairs of runs: the median of the per-pair ratios, and
 * a distribution-free 95% confidence interval for it from their order statistics. Per-pair ratios cancel
 * what slows both runs of a pair alike (a busy machine, a clock change), and the median ignores the pairs
 * a burst of other work hit on one side only, so the estimate holds on a shared machine where means and
 * ratios of means do not.
 *
 * @param ratio median of after/before over the pairs
 * @param low lower end of the 95% interval
 * @param high upper end of the 95% interval
 * @param pairs pairs the estimate rests on
 */
public record PairedRatios(double ratio, double low, double high, int pairs) {
    /** The normal quantile of a two-sided 95% interval. */
    private static final double Z95 = 1.96;

    /**
     * Estimates from the first {@code pairs} entries of {@code before} and {@code after}, timed in pairs.
     *
     * @throws IllegalArgumentException without pairs, or with a time that is not positive
     */
    public static PairedRatios of(double[] before, double[] after, int pairs) {
        if (pairs < 1 || before.length < pairs || after.length < pairs) {
            throw new IllegalArgumentException("need at least one pair of timings, not " + pairs);
        }
        double[] ratios = new double[pairs];
        for (int i = 0; i < pairs; i++) {
            if (!(before[i] > 0) || !(after[i] >= 0)) {
                throw new IllegalArgumentException("pair " + i + " has the times " + before[i] + " and " + after[i]);
            }
            ratios[i] = after[i] / before[i];
        }
        Arrays.sort(ratios);
        double median = pairs % 2 == 1 ? ratios[pairs / 2] : (ratios[pairs / 2 - 1] + ratios[pairs / 2]) / 2;
        // The median lies between the j-th and k-th smallest of n values with about 95% confidence
        // (the count below the median is Binomial(n, 1/2)); 1-based ranks, clamped for small n.
        double half = Z95 * Math.sqrt(pairs) / 2;
        int j = (int) Math.max(1, Math.round(pairs / 2.0 - half));
        int k = (int) Math.min(pairs, Math.round(1 + pairs / 2.0 + half));
        return new PairedRatios(median, ratios[j - 1], ratios[k - 1], pairs);
    }

    /** Half the interval's width: how far from {@link #ratio} the true ratio may plausibly lie. */
    public double noise() {
        return (high - low) / 2;
    }

    /** Whether the interval lies wholly above {@code bound}: slower than it by more than the noise. */
    public boolean above(double bound) {
        return ratio - noise() > bound;
    }

    /** Whether the interval lies wholly below {@code bound}: faster than it by more than the noise. */
    public boolean below(double bound) {
        return ratio + noise() < bound;
    }
}
