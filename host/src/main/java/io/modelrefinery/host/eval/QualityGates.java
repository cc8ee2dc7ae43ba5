package io.modelrefinery.host.eval;

import io.modelrefinery.host.pipeline.DataSources;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.event.GateResult;
import io.modelrefinery.api.event.LatencyEstimate;
import io.modelrefinery.api.plugin.InvalidParamException;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.ParamValidator;
import io.modelrefinery.api.plugin.Params;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The bounds a result must stay within to be published as optimized. Each gate is off unless set; set
 * ones are checked, in declaration order, against the result's {@link Evaluation}. Gates come from the
 * service's or the CLI's {@code --gate NAME=VALUE}, from a trailing {@code gate(...)} step of a pipeline,
 * and from the parameters of {@code auto(...)}; a later source overrides an earlier one gate by gate.
 *
 * <p>Gates can also hold the default latency gate, {@link #orNoSlowdown()}: when no {@code max-latency-ratio} is
 * set, a result slower than the original by more than the measurement's noise fails. Jobs apply it unless
 * the pipeline allows a slowdown (an explicit {@code max-latency-ratio}, or an {@code auto} objective other
 * than latency), so that a slower model is never published as an optimization by default.
 *
 * <p>Likewise the default fidelity floor, {@link #orFidelityFloor()}: when the job has evaluation samples and
 * sets no gate on fidelity or accuracy ({@code min-sqnr-db}, {@code min-top1-agreement},
 * {@code max-accuracy-drop}), a result whose outputs are under {@link #DEFAULT_MIN_SQNR_DB} against the
 * original's fails, reported as {@code min-sqnr-db}: a model that no longer computes what the original did
 * is not published as an optimization of it. Any of those gates says what the job accepts instead.
 */
public final class QualityGates {
    public static final ParamSpec<Double> MAX_ACCURACY_DROP = ParamSpec.decimal("max-accuracy-drop").optional()
            .validator(ParamValidator.between(0.0, 1.0))
            .doc("Largest accuracy loss allowed, as a share: 0.005 is half a point. Needs labelled evaluation samples.")
            .build();
    public static final ParamSpec<Double> MIN_SQNR_DB = ParamSpec.decimal("min-sqnr-db").optional()
            .doc("Smallest signal-to-noise ratio of the outputs against the original's, in dB. Needs evaluation samples.")
            .build();
    public static final ParamSpec<Double> MIN_TOP1_AGREEMENT = ParamSpec.decimal("min-top1-agreement").optional()
            .validator(ParamValidator.between(0.0, 1.0))
            .doc("Smallest share of samples on which the result predicts the original's class. Needs evaluation samples.")
            .build();
    public static final ParamSpec<Double> MAX_LATENCY_RATIO = ParamSpec.decimal("max-latency-ratio").optional()
            .validator(ParamValidator.greaterThan(0.0))
            .doc("Largest median latency of the result over the original's: 1.0 refuses any slowdown.")
            .build();

    /**
     * The default fidelity floor, in dB: outputs whose error has a tenth of their power. Under what the
     * bundled transforms reach when they work (fp16 40 dB, int8 25 dB; on the sample model, measured on 1,000
     * Fashion-MNIST samples, distillation 22 dB and pruning to 80% with fine-tuning then dynamic int8 19 dB),
     * over what a broken result shows (static int8 on a random ViT: 3 dB; 80% magnitude pruning of the sample
     * model without training: 5 dB, top-1 agreement 63%).
     */
    public static final double DEFAULT_MIN_SQNR_DB = 10.0;

    /** Every gate, in the order they are checked and reported. */
    public static final List<ParamSpec<Double>> ALL = List.of(MAX_ACCURACY_DROP, MIN_SQNR_DB, MIN_TOP1_AGREEMENT,
            MAX_LATENCY_RATIO);

    private static final QualityGates NONE = new QualityGates(Map.of(), false, false);

    private final Map<String, Double> limits;
    /** Whether the default latency gate applies: only ever without an explicit max-latency-ratio. */
    private final boolean noSlowdown;
    /** Whether the default fidelity floor applies: only ever without a gate on fidelity or accuracy. */
    private final boolean fidelityFloor;

    private QualityGates(Map<String, Double> limits, boolean noSlowdown, boolean fidelityFloor) {
        this.limits = Collections.unmodifiableMap(new LinkedHashMap<>(limits));
        this.noSlowdown = noSlowdown && !limits.containsKey(MAX_LATENCY_RATIO.name());
        this.fidelityFloor = fidelityFloor && !limits.containsKey(MIN_SQNR_DB.name())
                && !limits.containsKey(MIN_TOP1_AGREEMENT.name()) && !limits.containsKey(MAX_ACCURACY_DROP.name());
    }

    public static QualityGates none() {
        return NONE;
    }

    /**
     * Parses gate settings as written ({@code name -> value}).
     *
     * @param where the source, for messages: {@code --gate}, {@code gate(...)}, {@code auto(...)}
     * @throws InvalidParamException for an unknown gate or a refused value
     */
    public static QualityGates parse(Map<String, String> raw, String where) {
        Map<String, Double> limits = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : raw.entrySet()) {
            ParamSpec<Double> spec = spec(e.getKey()).orElseThrow(() -> new InvalidParamException("unknown gate '"
                    + e.getKey() + "' in " + where + " (known: " + String.join(", ", ALL.stream().map(ParamSpec::name).toList())
                    + ")"));
            limits.put(spec.name(), spec.parse(e.getValue(), where));
        }
        return new QualityGates(ordered(limits), false, false);
    }

    /**
     * Parses {@code NAME=VALUE} settings, as {@code --gate} takes them.
     *
     * @throws InvalidParamException for text without {@code =}, an unknown gate or a refused value
     */
    public static QualityGates parseAssignments(List<String> assignments, String where) {
        Map<String, String> raw = new LinkedHashMap<>();
        for (String assignment : assignments) {
            int eq = assignment.indexOf('=');
            if (eq <= 0 || eq == assignment.length() - 1) {
                throw new InvalidParamException("invalid " + where + " '" + assignment + "': expected NAME=VALUE, such as "
                        + "max-accuracy-drop=0.01");
            }
            raw.put(assignment.substring(0, eq).trim(), assignment.substring(eq + 1).trim());
        }
        return parse(raw, where);
    }

    /** The gates set in {@code params}, parsed against a descriptor that declares {@link #ALL}. */
    public static QualityGates of(Params params) {
        Map<String, Double> limits = new LinkedHashMap<>();
        for (ParamSpec<Double> gate : ALL) {
            params.find(gate).ifPresent(limit -> limits.put(gate.name(), limit));
        }
        return new QualityGates(limits, false, false);
    }

    public static Optional<ParamSpec<Double>> spec(String name) {
        return ALL.stream().filter(s -> s.name().equals(name)).findFirst();
    }

    /** These gates, with each gate {@code other} sets taking its value from there. */
    public QualityGates overriddenBy(QualityGates other) {
        Map<String, Double> merged = new LinkedHashMap<>(limits);
        merged.putAll(other.limits);
        return new QualityGates(ordered(merged), noSlowdown || other.noSlowdown, fidelityFloor || other.fidelityFloor);
    }

    /**
     * These gates with the default latency gate when they set no {@code max-latency-ratio}: the result
     * fails when its paired latency ratio exceeds 1 by more than the measurement's noise.
     */
    public QualityGates orNoSlowdown() {
        return new QualityGates(limits, true, fidelityFloor);
    }

    /**
     * These gates with the default fidelity floor when they set no gate on fidelity or accuracy: a result
     * whose outputs measure under {@link #DEFAULT_MIN_SQNR_DB} against the original's fails. It applies
     * only where fidelity is measured (the job has evaluation samples) and needs nothing else.
     */
    public QualityGates orFidelityFloor() {
        return new QualityGates(limits, noSlowdown, true);
    }

    /** Whether the default fidelity floor applies. */
    public boolean refusesInfidelity() {
        return fidelityFloor;
    }

    /** Whether the default latency gate applies. */
    public boolean refusesSlowdown() {
        return noSlowdown;
    }

    /** Whether no gate is set, the default latency gate included (the fidelity floor needs no measurement of its own). */
    public boolean isEmpty() {
        return limits.isEmpty() && !noSlowdown;
    }

    public Map<String, Double> limits() {
        return limits;
    }

    /** Whether a gate needs evaluation samples: all but the latency gate do. */
    public boolean needsSamples() {
        return limits.keySet().stream().anyMatch(name -> !name.equals(MAX_LATENCY_RATIO.name()));
    }

    /** Whether a gate needs labelled samples. */
    public boolean needsLabels() {
        return limits.containsKey(MAX_ACCURACY_DROP.name());
    }

    /**
     * Refuses, before any work, gates that the job's evaluation samples cannot check.
     *
     * @param hasSamples whether the job has evaluation samples
     * @param hasLabels whether they include labels
     */
    public void requireCheckable(boolean hasSamples, boolean hasLabels) {
        for (String name : limits.keySet()) {
            if (name.equals(MAX_LATENCY_RATIO.name())) {
                continue;
            }
            if (!hasSamples) {
                DataSources.Source source = DataSources.of(DataRole.EVALUATION);
                throw new InvalidInputException("gate " + name + " needs evaluation samples: give " + source.option()
                        + " FILE or the event's " + source.eventField());
            }
            if (name.equals(MAX_ACCURACY_DROP.name()) && !hasLabels) {
                throw new InvalidInputException("gate " + name + " needs labelled evaluation samples: the evaluation "
                        + "data has no 'labels' array");
            }
        }
    }

    /**
     * Checks the gates on accuracy and fidelity, not latency: what a candidate is checked on before it is
     * timed, so that one that fails is not timed at all.
     */
    public List<GateResult> checkQuality(Evaluation evaluation) {
        List<GateResult> results = new ArrayList<>();
        if (fidelityFloor && evaluation.sqnrDb() != null) {
            results.add(fidelityFloor(evaluation.sqnrDb()));
        }
        limits.forEach((name, limit) -> {
            if (!name.equals(MAX_LATENCY_RATIO.name())) {
                results.add(check(name, limit, evaluation));
            }
        });
        return results;
    }

    /** Checks every set gate against {@code evaluation}. */
    public List<GateResult> check(Evaluation evaluation) {
        List<GateResult> results = new ArrayList<>();
        // where min-sqnr-db would be in declaration order: no fidelity or accuracy gate comes before it
        if (fidelityFloor && evaluation.sqnrDb() != null) {
            results.add(fidelityFloor(evaluation.sqnrDb()));
        }
        limits.forEach((name, limit) -> results.add(check(name, limit, evaluation)));
        if (noSlowdown) {
            results.add(noSlowdown(evaluation));
        }
        return results;
    }

    /** The default fidelity floor, reported as {@code min-sqnr-db} with its bound. */
    private static GateResult fidelityFloor(double sqnr) {
        boolean passed = sqnr >= DEFAULT_MIN_SQNR_DB;
        return new GateResult(MIN_SQNR_DB.name(), DEFAULT_MIN_SQNR_DB, sqnr, passed, passed
                ? String.format(Locale.ROOT, "SQNR %.1f dB, at least the default minimum of %.1f", sqnr, DEFAULT_MIN_SQNR_DB)
                : String.format(Locale.ROOT, "SQNR %.1f dB against the original's outputs, %.1f dB under the default "
                        + "minimum of %.1f: the result no longer computes what the original does; accept it with "
                        + "gate(min-sqnr-db=...)", sqnr, DEFAULT_MIN_SQNR_DB - sqnr, DEFAULT_MIN_SQNR_DB));
    }

    /**
     * The default latency gate, reported as {@code max-latency-ratio} with the bound it came to: 1 plus the
     * measurement's noise.
     */
    private static GateResult noSlowdown(Evaluation e) {
        LatencyEstimate latency = e.latency();
        if (latency == null) {
            throw new IllegalStateException("the default latency gate applies but the evaluation has no paired latency");
        }
        double bound = 1 + latency.noise();
        boolean passed = latency.ratio() <= bound;
        return new GateResult(MAX_LATENCY_RATIO.name(), bound, latency.ratio(), passed, String.format(Locale.ROOT,
                "latency %.2fx the original's (median of %d paired runs at batch %d, noise ±%.2f)%s", latency.ratio(),
                latency.pairs(), latency.batch(), latency.noise(), passed ? ", not slower by more than the noise"
                        : ": slower by more than the noise; allow it with gate(max-latency-ratio=...)"));
    }

    private static GateResult check(String name, double limit, Evaluation e) {
        return switch (name) {
            case "max-accuracy-drop" -> {
                double drop = value(e.accuracyDrop(), name);
                yield new GateResult(name, limit, drop, drop <= limit, drop <= limit
                        ? String.format(Locale.ROOT, "accuracy %.2f%% -> %.2f%%, drop %.2f points within %.2f",
                                100 * e.accuracyBefore(), 100 * e.accuracyAfter(), 100 * drop, 100 * limit)
                        : String.format(Locale.ROOT, "accuracy dropped %.2f points (%.2f%% -> %.2f%%), %.2f over the "
                                + "limit of %.2f", 100 * drop, 100 * e.accuracyBefore(), 100 * e.accuracyAfter(),
                                100 * (drop - limit), 100 * limit));
            }
            case "min-sqnr-db" -> {
                double sqnr = value(e.sqnrDb(), name);
                yield new GateResult(name, limit, sqnr, sqnr >= limit, sqnr >= limit
                        ? String.format(Locale.ROOT, "SQNR %.1f dB, at least %.1f", sqnr, limit)
                        : String.format(Locale.ROOT, "SQNR %.1f dB, %.1f dB under the minimum of %.1f", sqnr,
                                limit - sqnr, limit));
            }
            case "min-top1-agreement" -> {
                double agreement = value(e.top1Agreement(), name);
                yield new GateResult(name, limit, agreement, agreement >= limit, agreement >= limit
                        ? String.format(Locale.ROOT, "top-1 agreement %.2f%%, at least %.2f%%", 100 * agreement, 100 * limit)
                        : String.format(Locale.ROOT, "top-1 agreement %.2f%%, %.2f points under the minimum of %.2f%%",
                                100 * agreement, 100 * (limit - agreement), 100 * limit));
            }
            case "max-latency-ratio" -> {
                double ratio = value(e.latencyRatio(), name);
                String noise = e.latency() == null ? "" : String.format(Locale.ROOT, " (±%.2f over %d pairs at batch %d)",
                        e.latency().noise(), e.latency().pairs(), e.latency().batch());
                yield new GateResult(name, limit, ratio, ratio <= limit, String.format(Locale.ROOT,
                        "median latency %.3f ms -> %.3f ms, %.2fx the original's%s, %s %.2fx", e.latencyMsBefore(),
                        e.latencyMsAfter(), ratio, noise, ratio <= limit ? "within" : "over the limit of", limit));
            }
            default -> throw new IllegalStateException("unknown gate " + name);
        };
    }

    private static double value(Double measured, String gate) {
        if (measured == null) {
            throw new IllegalStateException("gate " + gate + " was set but the evaluation did not measure its value");
        }
        return measured;
    }

    private static Map<String, Double> ordered(Map<String, Double> limits) {
        Map<String, Double> ordered = new LinkedHashMap<>();
        for (ParamSpec<Double> spec : ALL) {
            if (limits.containsKey(spec.name())) {
                ordered.put(spec.name(), limits.get(spec.name()));
            }
        }
        return ordered;
    }

    /** {@code name=value} pairs, as written in pipelines and reports. */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        limits.forEach((k, v) -> sb.append(sb.length() == 0 ? "" : ",").append(k).append('=').append(v));
        return sb.toString();
    }
}
