package io.modelrefinery.api.event;

/**
 * How much slower (above 1) or faster (below 1) the optimized model runs than the original, as the
 * report's {@code evaluation.latency} shows it (1.3). The two models run in alternation on the same
 * inputs, the order swapped from one pair of runs to the next, so that a busy machine slows both alike;
 * each pair gives one ratio, and the estimate is their median.
 *
 * @param ratio median over the pairs of the optimized model's time over the original's
 * @param noise how far the true ratio may lie from {@code ratio}: half the width of its 95% confidence
 *     interval (distribution-free, from the order statistics of the pairs' ratios), and never less than the
 *     difference two sessions of one model show (0.05); a difference from 1 within it is not measured
 * @param pairs pairs of runs timed, after warm-up runs of each model
 * @param batch samples per run: the batch the model fixes, else the evaluator's latency batch
 */
public record LatencyEstimate(double ratio, double noise, int pairs, int batch) {
}
