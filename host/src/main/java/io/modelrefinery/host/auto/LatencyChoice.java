package io.modelrefinery.host.auto;

import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.event.LatencyEstimate;
import io.modelrefinery.host.pipeline.PipelineSpec;

import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * The rule of {@code auto(objective=latency)}: never a candidate slower than the original. Among the
 * candidates that pass the gates, those measured slower than the original by more than their noise are
 * out, whatever {@code max-latency-ratio} allows; the fastest of the rest wins if it is measurably faster
 * (its ratio plus its noise below 1). When none is, the graph-optimized model is published (a candidate
 * whose every step is an optimizer: its descriptor's kind, so any plugin's graph rewrite counts): it computes
 * exactly what the original does, so nothing is lost for a speed-up that could not be shown.
 */
final class LatencyChoice {
    private LatencyChoice() {
    }

    /**
     * What the rule picked.
     *
     * @param pick the candidate to publish, empty when there is none
     * @param note why it was picked when it is not simply the fastest; empty otherwise
     */
    record Choice<T>(Optional<T> pick, Optional<String> note) {
    }

    /**
     * Applies the rule to the candidates that passed the gates and are not {@link #slower} than the original.
     *
     * @param spec each candidate's recipe
     * @param evaluation each candidate's evaluation, with its paired latency
     * @param graphOptimized whether a recipe only rewrites the graph, computing what the original does
     */
    static <T> Choice<T> choose(List<T> notSlower, Function<T, PipelineSpec> spec, Function<T, Evaluation> evaluation,
                                Predicate<PipelineSpec> graphOptimized) {
        if (notSlower.isEmpty()) {
            return new Choice<>(Optional.empty(), Optional.empty());
        }
        Comparator<T> byRatio = Comparator.comparingDouble(t -> evaluation.apply(t).latencyRatio());
        List<T> sorted = notSlower.stream().sorted(byRatio).toList();
        T fastest = sorted.get(0);
        if (faster(evaluation.apply(fastest))) {
            return new Choice<>(Optional.of(fastest), Optional.empty());
        }
        String none = "no candidate is measurably faster than the original (the fastest, " + spec.apply(fastest)
                + ", at " + figures(evaluation.apply(fastest)) + ")";
        Optional<T> optimized = sorted.stream().filter(t -> graphOptimized.test(spec.apply(t))).findFirst();
        if (optimized.isPresent()) {
            return new Choice<>(optimized, Optional.of(none + ", so the graph-optimized model, which computes what the "
                    + "original does"));
        }
        return new Choice<>(Optional.of(fastest), Optional.of(none + " and no graph-optimized one passed, so the "
                + "fastest, which is not slower"));
    }

    /** Slower than the original by more than the measurement's noise. */
    static boolean slower(Evaluation e) {
        LatencyEstimate l = e.latency();
        return l != null ? l.ratio() - l.noise() > 1 : e.latencyRatio() != null && e.latencyRatio() > 1;
    }

    /** Faster than the original by more than the measurement's noise. */
    static boolean faster(Evaluation e) {
        LatencyEstimate l = e.latency();
        return l != null ? l.ratio() + l.noise() < 1 : e.latencyRatio() != null && e.latencyRatio() < 1;
    }

    static String figures(Evaluation e) {
        LatencyEstimate l = e.latency();
        return l == null ? String.format(Locale.ROOT, "%.2fx the original's latency", e.latencyRatio())
                : String.format(Locale.ROOT, "%.2fx the original's latency ±%.2f", l.ratio(), l.noise());
    }
}
