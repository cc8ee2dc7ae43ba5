package io.modelrefinery.api.event;

import java.util.List;

/**
 * How the optimized model compares with the original on evaluation samples, as the report's
 * {@code evaluation} shows it. Accuracy needs a {@code labels} array in the samples; fidelity compares
 * the two models' outputs and needs no labels; latency is measured on the job's device, in batches the
 * model takes. Fields that could not be measured are {@code null}.
 *
 * @param samples evaluation samples scored (0 when latency was measured on generated inputs only)
 * @param device the device both models ran on: {@code cpu} or {@code cuda}
 * @param accuracyBefore share of samples the original model gets right, 0 to 1
 * @param accuracyAfter the same for the optimized model
 * @param sqnrDb signal-to-quantization-noise ratio of the outputs in dB: 10·log10(Σ ref² / Σ (ref − out)²);
 *     {@value #IDENTICAL_SQNR_DB} when the outputs are identical
 * @param cosine cosine similarity of the two models' outputs, over all samples
 * @param top1Agreement share of samples on which both models predict the same class
 * @param latencyMsBefore median latency of one run (of {@link LatencyEstimate#batch()} samples) through the
 *     original model, on one intra-op thread, in milliseconds
 * @param latencyMsAfter the same for the optimized model
 * @param latencyP95MsBefore 95th percentile of the original model's latency
 * @param latencyP95MsAfter 95th percentile of the optimized model's latency
 * @param gates the gates checked against these numbers, in order; empty when none were set
 * @param latency the paired latency comparison behind the ratio, or {@code null} when not measured (1.3)
 */
public record Evaluation(long samples, String device, Double accuracyBefore, Double accuracyAfter, Double sqnrDb,
                         Double cosine, Double top1Agreement, Double latencyMsBefore, Double latencyMsAfter,
                         Double latencyP95MsBefore, Double latencyP95MsAfter, List<GateResult> gates,
                         LatencyEstimate latency) {
    /** The SQNR reported for outputs that are equal to the last bit (the true value is infinite). */
    public static final double IDENTICAL_SQNR_DB = 300.0;

    public Evaluation {
        gates = gates == null ? List.of() : List.copyOf(gates);
    }

    /** The numbers of a 1.2 evaluation, without the paired latency comparison. */
    public Evaluation(long samples, String device, Double accuracyBefore, Double accuracyAfter, Double sqnrDb,
                      Double cosine, Double top1Agreement, Double latencyMsBefore, Double latencyMsAfter,
                      Double latencyP95MsBefore, Double latencyP95MsAfter, List<GateResult> gates) {
        this(samples, device, accuracyBefore, accuracyAfter, sqnrDb, cosine, top1Agreement, latencyMsBefore,
                latencyMsAfter, latencyP95MsBefore, latencyP95MsAfter, gates, null);
    }

    /** Accuracy points lost (before minus after), or {@code null} without labels. */
    public Double accuracyDrop() {
        return accuracyBefore == null || accuracyAfter == null ? null : accuracyBefore - accuracyAfter;
    }

    /**
     * Optimized latency over original latency: the median of the paired ratios when measured in pairs,
     * else the ratio of the medians; {@code null} when not measured.
     */
    public Double latencyRatio() {
        if (latency != null) {
            return latency.ratio();
        }
        return latencyMsBefore == null || latencyMsAfter == null || latencyMsBefore <= 0 ? null
                : latencyMsAfter / latencyMsBefore;
    }

    /** Whether every gate passed (true when there are none). */
    public boolean passed() {
        return gates.stream().allMatch(GateResult::passed);
    }

    /** The same numbers with {@code checked} as the gate results. */
    public Evaluation withGates(List<GateResult> checked) {
        return new Evaluation(samples, device, accuracyBefore, accuracyAfter, sqnrDb, cosine, top1Agreement,
                latencyMsBefore, latencyMsAfter, latencyP95MsBefore, latencyP95MsAfter, checked, latency);
    }
}
