package io.modelrefinery.host.eval;

import io.modelrefinery.api.data.Batch;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.Progress;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Single-sample latency of two models, timed in alternation so that both see the same machine state
 * (clock changes and noisy neighbours hit both alike).
 */
record Latency(double p50Before, double p50After, double p95Before, double p95After) {

    /**
     * Times {@code settings.latencyRuns()} runs of each model over {@code inputs} (cycled), after
     * {@code settings.warmupRuns()} untimed runs of each.
     */
    static Latency measure(InferenceSession before, InferenceSession after, List<Batch> inputs,
                           Evaluator.Settings settings, Progress progress, Cancellation cancellation) {
        List<String> beforeOut = List.of(before.outputs().get(0).name());
        List<String> afterOut = List.of(after.outputs().get(0).name());
        List<Map<String, Tensor>> beforeFeeds = inputs.stream().map(b -> Evaluator.feeds(b, before.inputs())).toList();
        List<Map<String, Tensor>> afterFeeds = inputs.stream().map(b -> Evaluator.feeds(b, after.inputs())).toList();
        for (int i = 0; i < settings.warmupRuns(); i++) {
            before.run(beforeFeeds.get(i % inputs.size()), beforeOut);
            after.run(afterFeeds.get(i % inputs.size()), afterOut);
        }
        int runs = settings.latencyRuns();
        double[] beforeMs = new double[runs];
        double[] afterMs = new double[runs];
        for (int i = 0; i < runs; i++) {
            cancellation.throwIfCancelled();
            Map<String, Tensor> b = beforeFeeds.get(i % inputs.size());
            Map<String, Tensor> a = afterFeeds.get(i % inputs.size());
            boolean beforeFirst = i % 2 == 0; // alternate the order too: a cache warmed by one helps the other
            if (beforeFirst) {
                beforeMs[i] = time(before, b, beforeOut);
                afterMs[i] = time(after, a, afterOut);
            } else {
                afterMs[i] = time(after, a, afterOut);
                beforeMs[i] = time(before, b, beforeOut);
            }
            progress.update(i + 1, runs, "measuring latency");
        }
        return new Latency(percentile(beforeMs, 50), percentile(afterMs, 50), percentile(beforeMs, 95),
                percentile(afterMs, 95));
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
