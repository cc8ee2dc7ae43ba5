package io.modelrefinery.host.eval;

import io.modelrefinery.api.event.LatencyEstimate;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.Progress;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The latency of a result against its original's on the job's device, timed in pairs: each pair runs both
 * models once on the same batch, the order swapped from one pair to the next (a cache or a clock warmed
 * by the first run would otherwise always help the second). Warm-up runs come first, by count and for a
 * tenth of the time budget. Timing stops once the ratio is known well enough: its noise at most
 * {@link #TARGET_NOISE}, or (after {@link #DECISIVE_PAIRS}) clearly away from 1, or the time budget spent;
 * but never before {@link Evaluator.Settings#latencyRuns()} pairs (and at least {@link #MIN_PAIRS}).
 *
 * @param estimate the paired ratio and its noise
 * @param batch samples per run
 * @param p50Before median time of one run of the original, in milliseconds
 * @param p50After the same for the result
 * @param p95Before 95th percentile of the original's run times
 * @param p95After the same for the result
 */
record LatencyComparison(PairedRatios estimate, int batch, double p50Before, double p50After, double p95Before,
                         double p95After) {
    /** Fewer pairs than this say nothing: their interval spans every ratio measured. */
    static final int MIN_PAIRS = 5;
    /**
     * The least noise a comparison reports: two sessions of one and the same model, timed this way, differ
     * by a few percent, which no number of pairs removes (on the 2-core build machine at a load of 19,
     * 24 comparisons of three models with themselves gave 0.967x to 1.017x, each with an interval of ±0.03).
     */
    static final double SESSION_NOISE = 0.05;
    /** A statistical noise this small is stable enough: the session noise dominates it. */
    static final double TARGET_NOISE = 0.03;
    /** Pairs between checks of whether the estimate is stable, so the check costs nothing next to runs. */
    private static final int CHECK_EVERY = 10;
    /** Share of the time budget spent on untimed warm-up runs (on top of the budget). */
    static final double WARMUP_SHARE = 0.1;
    /**
     * Pairs before a ratio far from 1 stops the timing: fewer can all fall in a transient (a neighbour's
     * burst, a session still warming up) and show a difference that is not there.
     */
    static final int DECISIVE_PAIRS = 50;
    /** An upper bound on pairs, for models so fast that the budget would allow millions. */
    static final int MAX_PAIRS = 5000;

    /**
     * Times {@code before} against {@code after}, cycling over {@code inputs} (each a feed of
     * {@code batch} samples for each model), after {@code settings.warmupRuns()} untimed runs of each.
     */
    static LatencyComparison measure(InferenceSession before, InferenceSession after, List<Map<String, Tensor>> beforeFeeds,
                                     List<Map<String, Tensor>> afterFeeds, int batch, Evaluator.Settings settings,
                                     Progress progress, Cancellation cancellation) {
        List<String> beforeOut = List.of(before.outputs().get(0).name());
        List<String> afterOut = List.of(after.outputs().get(0).name());
        int inputs = beforeFeeds.size();
        long budget = settings.latencyBudgetMillis() * 1_000_000L;
        // Warm up by count and by time: the first runs of a fresh session (and of the code that feeds it) are
        // slower for a while, long enough to skew a few dozen pairs if they were timed.
        long warmEnd = System.nanoTime() + (long) (budget * WARMUP_SHARE);
        for (int i = 0; i < settings.warmupRuns() || System.nanoTime() < warmEnd; i++) {
            cancellation.throwIfCancelled();
            before.run(beforeFeeds.get(i % inputs), beforeOut);
            after.run(afterFeeds.get(i % inputs), afterOut);
        }
        int minimum = Math.max(MIN_PAIRS, settings.latencyRuns());
        long deadline = System.nanoTime() + budget;
        double[] beforeMs = new double[64];
        double[] afterMs = new double[64];
        int pairs = 0;
        while (true) {
            cancellation.throwIfCancelled();
            if (pairs == beforeMs.length) {
                beforeMs = Arrays.copyOf(beforeMs, pairs * 2);
                afterMs = Arrays.copyOf(afterMs, pairs * 2);
            }
            Map<String, Tensor> b = beforeFeeds.get(pairs % inputs);
            Map<String, Tensor> a = afterFeeds.get(pairs % inputs);
            if (pairs % 2 == 0) {
                beforeMs[pairs] = time(before, b, beforeOut);
                afterMs[pairs] = time(after, a, afterOut);
            } else {
                afterMs[pairs] = time(after, a, afterOut);
                beforeMs[pairs] = time(before, b, beforeOut);
            }
            pairs++;
            progress.update(pairs, minimum, "measuring latency");
            if (pairs >= MAX_PAIRS || pairs >= minimum && System.nanoTime() >= deadline) {
                break;
            }
            if (pairs >= minimum && pairs % CHECK_EVERY == 0
                    && stable(PairedRatios.of(beforeMs, afterMs, pairs), pairs >= DECISIVE_PAIRS)) {
                break;
            }
        }
        double[] b = Arrays.copyOf(beforeMs, pairs);
        double[] a = Arrays.copyOf(afterMs, pairs);
        return new LatencyComparison(PairedRatios.of(b, a, pairs), batch, percentile(b, 50), percentile(a, 50),
                percentile(b, 95), percentile(a, 95));
    }

    /**
     * Known well enough: narrow, or (once {@code decisive} pairs are in) so far from 1 that more pairs
     * would not change a gate's verdict.
     */
    static boolean stable(PairedRatios estimate, boolean decisive) {
        return estimate.noise() <= TARGET_NOISE || decisive && Math.abs(estimate.ratio() - 1) > 3 * estimate.noise();
    }

    /** Whether the ratio is within the noise of 1: neither measurably slower nor measurably faster. */
    boolean withinNoise() {
        LatencyEstimate f = figures();
        return Math.abs(f.ratio() - 1) <= f.noise();
    }

    /** The figures as the report carries them, the noise at least {@link #SESSION_NOISE}. */
    LatencyEstimate figures() {
        return new LatencyEstimate(estimate.ratio(), Math.max(SESSION_NOISE, estimate.noise()), estimate.pairs(), batch);
    }

    private static double time(InferenceSession session, Map<String, Tensor> feeds, List<String> outputs) {
        long start = System.nanoTime();
        session.run(feeds, outputs);
        return (System.nanoTime() - start) / 1e6;
    }

    /** Nearest-rank percentile. */
    static double percentile(double[] values, double p) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int rank = (int) Math.ceil(p / 100.0 * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
    }
}
