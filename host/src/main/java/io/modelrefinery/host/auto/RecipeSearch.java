package io.modelrefinery.host.auto;

import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.event.ArtifactSummary;
import io.modelrefinery.api.event.Candidate;
import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.event.GateResult;
import io.modelrefinery.api.event.SearchSummary;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.OnnxArtifact;
import io.modelrefinery.api.plugin.Progress;
import io.modelrefinery.api.plugin.TransformCancelledException;
import io.modelrefinery.api.plugin.TransformKind;
import io.modelrefinery.host.eval.ArtifactMeasurer;
import io.modelrefinery.host.eval.Evaluator;
import io.modelrefinery.host.eval.QualityGates;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.host.pipeline.JobEnvironment;
import io.modelrefinery.host.pipeline.JobListener;
import io.modelrefinery.host.pipeline.JobStatistics;
import io.modelrefinery.host.pipeline.PipelinePlan;
import io.modelrefinery.host.pipeline.PipelineResult;
import io.modelrefinery.host.pipeline.PipelineRunner;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.pipeline.StepLimits;
import io.modelrefinery.host.pipeline.TransformCatalog;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * The {@code auto} pipeline: runs every applicable recipe on the model, evaluates each against the
 * original, and keeps the best one for the objective among those that pass the quality gates. A recipe
 * whose transform declares a layer fallback (static quantization does) and that fails a gate is retried
 * with its most sensitive layers left in float.
 *
 * <p>What makes it fast (measured in docs/benchmarks.md): recipes are transformed and scored up to
 * {@code parallelism} at a time, and timed one at a time so that latencies are not measured on a machine busy
 * with other candidates; the original is opened once for all candidates; statistics computed from the
 * samples (calibration ranges) are computed once and shared through the job's {@link JobStatistics}; a
 * candidate is timed only when it passed the quality gates and can still win (a size objective does not time
 * candidates larger than one that passed); a layer fallback's sensitivity probes are scored, never timed.
 * With a {@link RecipeMemory.Remembered recipe} of the model's previous version, that recipe is tried first.
 */
public final class RecipeSearch {
    private static final Logger LOG = LoggerFactory.getLogger(RecipeSearch.class);

    private static final String PASSED = "passed every gate";

    /** Gates of a search that sets none, with labelled samples. */
    static final String DEFAULT_LABELLED_GATES = "max-accuracy-drop=0.01,max-latency-ratio=1.5";
    /** Gates of a search that sets none, without labels. */
    static final String DEFAULT_UNLABELLED_GATES = "min-sqnr-db=20,max-latency-ratio=1.5";

    private final List<PipelineSpec> recipes;
    private final TransformCatalog catalog;
    private final InferenceService inference;
    private final Path scratchRoot;
    private final int parallelism;
    private final Evaluator.Settings evaluation;
    private final StepLimits limits;
    private final String jobId;
    private final Cancellation cancellation;

    /**
     * @param recipes the recipes to try, {@link AutoRecipes#of} the catalog in the service
     * @param scratchRoot a folder for candidates' files, emptied by the caller
     * @param parallelism recipes transformed at once
     * @param limits how long each step of each recipe may run
     */
    public RecipeSearch(List<String> recipes, TransformCatalog catalog, InferenceService inference, Path scratchRoot,
                        int parallelism, Evaluator.Settings evaluation, StepLimits limits, String jobId,
                        Cancellation cancellation) {
        if (parallelism < 1) {
            throw new IllegalArgumentException("parallelism must be at least 1: " + parallelism);
        }
        this.recipes = recipes.stream().map(PipelineSpec::parse).toList();
        this.catalog = catalog;
        this.inference = inference;
        this.scratchRoot = scratchRoot;
        this.parallelism = parallelism;
        this.evaluation = evaluation;
        this.limits = limits;
        this.jobId = jobId;
        this.cancellation = cancellation;
    }

    /**
     * What the search found.
     *
     * @param pipeline the chosen recipe, or the closest rejected one when none passed
     * @param result its pipeline result
     * @param evaluation its evaluation, with gate results
     * @param passed whether it passed the gates
     * @param candidates every recipe tried, in the order tried
     * @param notes what the search decided on its own
     * @param search how much work the search did and saved
     * @param statistics what the chosen recipe's version of the model may remember: the statistics computed
     *     (and, when a remembered recipe won, those it read from the previous version)
     */
    public record Outcome(PipelineSpec pipeline, PipelineResult result, Evaluation evaluation, boolean passed,
                          List<Candidate> candidates, List<String> notes, SearchSummary search,
                          Map<JobStatistics.Entry, byte[]> statistics) {
    }

    /** One recipe tried. The output model lives in {@link #file}, not in memory. */
    private static final class Trial {
        final PipelineSpec spec;
        PipelineResult result;
        Path file;
        ArtifactSummary size;
        Evaluation evaluation;
        String outcome;
        String reason;

        Trial(PipelineSpec spec) {
            this.spec = spec;
        }

        boolean evaluated() {
            return evaluation != null;
        }

        /** The output model, read back from its file. */
        OnnxModel model() {
            try {
                return OnnxModel.load(file);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read candidate " + file, e);
            }
        }

        Candidate candidate() {
            return new Candidate(spec.toString(), outcome, size == null ? 0 : size.bytes(),
                    size == null ? 0 : size.gzipBytes(), evaluation, reason);
        }
    }

    /**
     * Searches recipes for {@code input}.
     *
     * @param gates the gates set by the job; when none are, defaults apply and the report says so
     * @param zipName the name the model gets inside zip archives when measuring: the input's file name
     * @throws InvalidInputException if the job has neither evaluation nor calibration samples, or gates
     *     its samples cannot check
     */
    public Outcome search(ModelArtifact input, ModelFormat format, JobData data, QualityGates gates, AutoSettings settings,
                          String zipName, JobListener listener) {
        return search(input, format, data, gates, settings, zipName, listener, new JobStatistics(data), Optional.empty());
    }

    /**
     * Searches recipes for {@code input}, computing statistics into {@code statistics} (shared by every
     * candidate), starting from {@code remembered} when there is one: it is tried first, and when it passes
     * the gates the search stops there.
     */
    public Outcome search(ModelArtifact input, ModelFormat format, JobData data, QualityGates gates, AutoSettings settings,
                          String zipName, JobListener listener, JobStatistics statistics,
                          Optional<RecipeMemory.Remembered> remembered) {
        Dataset scoring = data.evaluation().or(data::calibration).orElseThrow(() -> new InvalidInputException(
                "auto needs evaluation samples to check its candidates: give " + JobData.optionFor(DataRole.EVALUATION)
                        + " FILE or the event's " + JobData.eventFieldFor(DataRole.EVALUATION)
                        + " (calibration samples serve for fidelity when there are no others)"));
        List<String> notes = new ArrayList<>();
        if (data.evaluation().isEmpty()) {
            notes.add("auto scored candidates on the calibration samples: the job has no evaluation samples");
        }
        boolean labelled = scoring.labels().isPresent();
        QualityGates effective = gates;
        if (gates.isEmpty()) {
            effective = defaultGates(labelled, settings.objective());
            notes.add("auto applied the default gates " + effective + ": the job set none");
        }
        if (settings.objective() == Objective.LATENCY) {
            effective = effective.orNoSlowdown(); // refuses slower candidates unless max-latency-ratio is set
        }
        // as in a job without auto: gates on latency alone say nothing about fidelity (a no-op under any
        // fidelity or accuracy gate, auto's defaults included)
        effective = effective.orFidelityFloor();
        effective.requireCheckable(true, labelled);

        Search search = new Search(input, format, data, scoring, effective, settings.objective(), zipName, listener,
                statistics);
        try {
            Optional<Trial> first = remembered.flatMap(r -> search.tryRemembered(r, notes));
            if (first.isPresent()) {
                Trial winner = first.get();
                int saved = recipes.size() - (recipes.stream().anyMatch(r -> r.toString().equals(winner.spec.toString()))
                        ? 1 : 0);
                notes.add("auto started from " + winner.spec + ", the recipe that won for version "
                        + remembered.get().version() + ", and it passed the gates: " + saved + " other candidates not tried");
                Map<JobStatistics.Entry, byte[]> kept = new LinkedHashMap<>(remembered.get().statistics());
                kept.putAll(search.rememberedView.entries());
                return choose(List.of(winner), settings.objective(), search, notes,
                        summary(search, remembered, true, saved, 1), kept);
            }
            List<Trial> trials = new ArrayList<>(search.announced);
            for (PipelineSpec recipe : settings.objective() == Objective.LATENCY ? forLatency(notes) : recipes) {
                if (trials.stream().noneMatch(t -> t.spec.toString().equals(recipe.toString()))) {
                    trials.add(new Trial(recipe)); // the remembered recipe, tried already, is not run twice
                }
            }
            List<Trial> fresh = new ArrayList<>(trials.subList(search.announced.size(), trials.size()));
            // recipes whose latency is that of another recipe run after it, and only if that one could pass
            List<Trial> later = fresh.stream().filter(t -> latencyOf(t, fresh).isPresent()).toList();
            fresh.removeAll(later);
            search.run(fresh);
            List<Trial> remaining = new ArrayList<>();
            for (Trial chain : later) {
                Trial rest = latencyOf(chain, trials).orElseThrow();
                Optional<GateResult> slow = rest.evaluation == null ? Optional.empty() : rest.evaluation.gates().stream()
                        .filter(g -> !g.passed() && g.gate().equals(QualityGates.MAX_LATENCY_RATIO.name())).findFirst();
                if (slow.isPresent()) {
                    search.notRun.incrementAndGet();
                    chain.outcome = "skipped";
                    chain.reason = "cannot pass: its first steps only change weight values, so it runs as fast as "
                            + rest.spec + " alone, which failed " + slow.get().gate() + " (" + slow.get().detail() + ")";
                    search.announce(chain);
                } else if (settings.objective() == Objective.LATENCY) {
                    // ranked by speed, it can at best tie with its rest (measured noise decides a tie), while
                    // running it can cost more than the rest of the search (a layer-wise pruning pass)
                    search.notRun.incrementAndGet();
                    chain.outcome = "skipped";
                    chain.reason = "cannot win: its first steps only change weight values, so it runs as fast as "
                            + rest.spec + " alone, a candidate of this search, and objective=latency ranks by speed";
                    search.announce(chain);
                } else {
                    remaining.add(chain);
                }
            }
            search.run(remaining);
            if (settings.fallback()) {
                for (Trial trial : closestToPassing(search, List.copyOf(trials), notes)) {
                    Optional<String> hopeless = search.cannotWin(trial);
                    if (hopeless.isPresent()) {
                        notes.add("auto did not retry " + trial.spec + " with layers in float: " + hopeless.get());
                    } else {
                        trials.addAll(fallback(search, trial));
                    }
                }
            }
            return choose(trials, settings.objective(), search, notes, summary(search, remembered, false, 0, trials.size()),
                    statistics.entries());
        } finally {
            search.close();
        }
    }

    /**
     * The recipes for a latency objective: one whose first steps only change weight values runs exactly as
     * fast as its other steps alone and cannot be more faithful, so those steps alone are tried instead (a
     * layer-wise pruning pass can cost more than the rest of the search); where they are a recipe of their
     * own the search skips the chain as it runs.
     */
    private List<PipelineSpec> forLatency(List<String> notes) {
        List<PipelineSpec> chosen = new ArrayList<>();
        List<String> replaced = new ArrayList<>();
        for (PipelineSpec recipe : recipes) {
            List<PipelineSpec> rests = afterWeightOnlySteps(recipe);
            PipelineSpec rest = rests.isEmpty() ? recipe : rests.get(rests.size() - 1);
            boolean aRecipe = recipes.stream().anyMatch(r -> r.toString().equals(rest.toString()));
            if (rests.isEmpty() || aRecipe || chosen.stream().anyMatch(r -> r.toString().equals(rest.toString()))) {
                chosen.add(recipe);
            } else {
                chosen.add(rest);
                replaced.add(recipe + " as " + rest);
            }
        }
        if (!replaced.isEmpty()) {
            notes.add("auto(objective=latency) tried " + String.join(", ", replaced) + ": the steps left out only "
                    + "change weight values, which makes nothing faster");
        }
        return chosen;
    }

    /**
     * The recipe among {@code trials} that {@code trial} runs as fast as: its last steps, when every step
     * before them {@linkplain io.modelrefinery.api.plugin.TransformDescriptor#keepsGraph keeps the graph}
     * (changes only weight values) and those last steps are a recipe of their own.
     */
    private Optional<Trial> latencyOf(Trial trial, List<Trial> trials) {
        for (PipelineSpec rest : afterWeightOnlySteps(trial.spec)) {
            Optional<Trial> found = trials.stream().filter(t -> t != trial && t.spec.toString().equals(rest.toString()))
                    .findFirst();
            if (found.isPresent()) {
                return found;
            }
        }
        return Optional.empty();
    }

    /**
     * What is left of {@code spec} after each of its leading steps that only change weight values: after the
     * first, after the first two, and so on, never empty; none when its first step changes the graph. Each
     * runs exactly as fast as {@code spec}.
     */
    private List<PipelineSpec> afterWeightOnlySteps(PipelineSpec spec) {
        List<io.modelrefinery.host.pipeline.StepSpec> steps = spec.steps();
        List<PipelineSpec> rests = new ArrayList<>();
        for (int i = 1; i < steps.size() && keepsGraph(steps.get(i - 1)); i++) {
            rests.add(PipelineSpec.of(steps.subList(i, steps.size())));
        }
        return rests;
    }

    private boolean keepsGraph(io.modelrefinery.host.pipeline.StepSpec step) {
        return catalog.descriptors().stream().filter(d -> d.id().equals(step.transformId())).findFirst()
                .map(d -> {
                    try {
                        return d.keepsGraph(io.modelrefinery.api.plugin.Params.parse(d, step.params()));
                    } catch (io.modelrefinery.api.plugin.InvalidParamException e) {
                        return false; // the search says what is wrong when it runs the recipe
                    }
                }).orElse(false);
    }

    private static SearchSummary summary(Search search, Optional<RecipeMemory.Remembered> remembered, boolean chosen,
                                         int saved, int candidates) {
        return new SearchSummary(candidates, search.timed.get(), search.notTimed.get(), search.notRun.get(),
                search.statistics.computed(),
                search.statistics.reused(), remembered.map(r -> r.pipeline()).orElse(null),
                remembered.map(r -> r.version()).orElse(null), remembered.isPresent() ? chosen : null, saved);
    }

    /**
     * The gates of a search that sets none. A latency objective drops the latency bound: the default
     * latency gate ({@link QualityGates#orNoSlowdown()}) refuses any measurable slowdown instead.
     */
    static QualityGates defaultGates(boolean labelled, Objective objective) {
        List<String> gates = new ArrayList<>(List.of((labelled ? DEFAULT_LABELLED_GATES : DEFAULT_UNLABELLED_GATES)
                .split(",")));
        if (objective == Objective.LATENCY) {
            gates.removeIf(g -> g.startsWith(QualityGates.MAX_LATENCY_RATIO.name() + "="));
        }
        return QualityGates.parseAssignments(gates, "auto");
    }

    private Outcome choose(List<Trial> trials, Objective objective, Search search, List<String> notes,
                           SearchSummary summary, Map<JobStatistics.Entry, byte[]> statistics) {
        Comparator<Trial> order = order(objective, search.referenceSize);
        List<Trial> passing = trials.stream().filter(t -> "passed".equals(t.outcome)).sorted(order).toList();
        Trial pick;
        Optional<String> fallback = Optional.empty();
        if (objective == Objective.LATENCY) {
            // Never a candidate slower than the original, whatever max-latency-ratio allows.
            for (Trial t : passing) {
                if (LatencyChoice.slower(t.evaluation)) {
                    t.outcome = "rejected";
                    t.reason = "auto(objective=latency) never chooses a candidate slower than the original: "
                            + LatencyChoice.figures(t.evaluation);
                }
            }
            List<Trial> notSlower = passing.stream().filter(t -> "passed".equals(t.outcome)).toList();
            LatencyChoice.Choice<Trial> choice = LatencyChoice.choose(notSlower, t -> t.spec, t -> t.evaluation,
                    this::graphOptimized);
            fallback = choice.note();
            passing = choice.pick().map(p -> Stream.concat(Stream.of(p), notSlower.stream().filter(t -> t != p)).toList())
                    .orElse(List.of());
        }
        boolean passed = !passing.isEmpty();
        if (passed) {
            pick = passing.get(0);
            pick.outcome = "chosen";
            String detail = PASSED.equals(pick.reason) ? "" : "; " + pick.reason;
            pick.reason = (fallback.isPresent() ? fallback.get()
                    : why(pick, passing, objective, search.referenceSize, trials.size())) + detail;
            notes.add("auto chose " + pick.spec + ": " + pick.reason);
        } else {
            pick = trials.stream().filter(t -> "rejected".equals(t.outcome)).sorted(order).findFirst()
                    .orElseThrow(() -> new InvalidInputException("auto: no recipe could run on this model: "
                            + String.join("; ", trials.stream().map(t -> t.spec + ": " + t.reason).toList())));
            notes.add("auto: no candidate passed the gates; the closest was " + pick.spec + " (" + pick.reason + ")");
        }
        PipelineResult result = search.reload(pick);
        List<Trial> reported = new ArrayList<>(search.announced);
        trials.stream().filter(t -> !reported.contains(t)).forEach(reported::add);
        return new Outcome(pick.spec, result, pick.evaluation, passed, reported.stream().map(Trial::candidate).toList(),
                notes, summary, statistics);
    }

    private static Comparator<Trial> order(Objective objective, ArtifactSummary reference) {
        Comparator<Trial> bySize = Comparator.comparingLong(t -> t.size.gzipBytes());
        // a candidate rejected on quality was never timed: it sorts after those that were
        Comparator<Trial> byLatency = Comparator.comparingDouble(t -> t.evaluation.latencyMsAfter() == null
                ? Double.POSITIVE_INFINITY : t.evaluation.latencyMsAfter());
        return switch (objective) {
            case SIZE -> bySize.thenComparing(byLatency);
            case LATENCY -> byLatency.thenComparing(bySize);
            case BALANCED -> Comparator.<Trial>comparingDouble(t -> t.evaluation.latencyRatio() == null
                            ? Double.POSITIVE_INFINITY
                            : Math.sqrt((double) t.size.gzipBytes() / reference.gzipBytes() * t.evaluation.latencyRatio()))
                    .thenComparing(bySize);
        };
    }

    private static String why(Trial pick, List<Trial> passing, Objective objective, ArtifactSummary reference, int tried) {
        String what = switch (objective) {
            case SIZE -> String.format(Locale.ROOT, "smallest zipped size, %,d bytes (%.2fx the original's %,d)",
                    pick.size.gzipBytes(), (double) pick.size.gzipBytes() / reference.gzipBytes(), reference.gzipBytes());
            case LATENCY -> String.format(Locale.ROOT, "lowest median latency, %.3f ms (%.2fx the original's)",
                    pick.evaluation.latencyMsAfter(), pick.evaluation.latencyRatio());
            case BALANCED -> String.format(Locale.ROOT, "best balance of size (%.2fx) and latency (%.2fx)",
                    (double) pick.size.gzipBytes() / reference.gzipBytes(), pick.evaluation.latencyRatio());
        };
        String next = passing.size() < 2 ? "" : String.format(Locale.ROOT, "; next best %s at %,d bytes, %.3f ms",
                passing.get(1).spec, passing.get(1).size.gzipBytes(), passing.get(1).evaluation.latencyMsAfter());
        return what + ", among " + passing.size() + " of " + tried + " candidates that passed the gates" + next;
    }

    /** Runs and scores trials for one search. */
    final class Search {
        private final ModelArtifact input;
        private final ModelFormat format;
        private final JobData data;
        private final Dataset scoring;
        private final QualityGates gates;
        private final Objective objective;
        private final String zipName;
        private final JobListener listener;
        private final JobStatistics statistics;
        private final AtomicInteger counter = new AtomicInteger();
        /** Candidates timed against the original, and those scored but never timed because they could not win. */
        final AtomicInteger timed = new AtomicInteger();
        final AtomicInteger notTimed = new AtomicInteger();
        /** Candidates never transformed because they could not pass or win. */
        final AtomicInteger notRun = new AtomicInteger();
        /** Trials in the order they finished: the report's order. */
        final List<Trial> announced = new ArrayList<>();
        private final Evaluator evaluator;
        private OnnxModel reference;
        private ArtifactSummary referenceSize;
        private Evaluator.Reference opened;
        /** The statistics the remembered recipe ran over: this job's, the previous version's underneath. */
        JobStatistics rememberedView;

        Search(ModelArtifact input, ModelFormat format, JobData data, Dataset scoring, QualityGates gates,
               Objective objective, String zipName, JobListener listener, JobStatistics statistics) {
            this.input = input;
            this.format = format;
            this.data = data;
            this.scoring = scoring;
            this.gates = gates;
            this.objective = objective;
            this.zipName = zipName;
            this.listener = listener;
            this.statistics = statistics;
            this.evaluator = new Evaluator(inference, evaluation, Progress.none(), cancellation);
            if (input instanceof OnnxArtifact) {
                setReference(input.onnxModel());
            }
        }

        OnnxModel reference() {
            return reference;
        }

        /** The original's sessions, opened for the first candidate and kept for all (closed by {@link #close}). */
        private synchronized Evaluator.Reference opened() {
            if (opened == null) {
                opened = evaluator.reference(reference, scoring);
            }
            return opened;
        }

        void close() {
            if (opened != null) {
                opened.close();
            }
        }

        /**
         * Tries the remembered recipe with the previous version's statistics underneath this job's; returns it
         * when it passed every gate (and is not slower, for a latency objective), else announces it and returns
         * empty.
         */
        Optional<Trial> tryRemembered(RecipeMemory.Remembered remembered, List<String> notes) {
            Trial trial = new Trial(PipelineSpec.parse(remembered.pipeline()));
            rememberedView = statistics.remembering(remembered.statistics());
            transform(trial, rememberedView);
            if (trial.outcome == null) {
                score(trial);
                if (trial.outcome == null) {
                    time(trial);
                }
            }
            boolean passed = "passed".equals(trial.outcome);
            // for speed, only a measurable speed-up ends the search: a recipe that won a latency search because
            // nothing beat the original (the graph-optimized model) must not stop the next version's search
            boolean won = passed && (objective != Objective.LATENCY || LatencyChoice.faster(trial.evaluation));
            if (won) {
                return Optional.of(trial);
            }
            trial.reason = "remembered from version " + remembered.version() + "; " + trial.reason;
            notes.add("auto tried " + trial.spec + " first, the recipe that won for version " + remembered.version()
                    + (passed ? ", and it passed but is not measurably faster than the original ("
                    + LatencyChoice.figures(trial.evaluation) + ")" : ", and it did not pass (" + trial.outcome + ")")
                    + ": searched every recipe");
            announce(trial);
            return Optional.empty();
        }

        /**
         * Transforms {@code trials} (up to {@code parallelism} at once), scores them on the samples (as many at
         * once), then times, one at a time so that latencies are not measured on a busy machine, those that
         * passed the quality gates and can still win.
         */
        void run(List<Trial> trials) {
            parallel(trials, this::transform);
            parallel(trials.stream().filter(t -> t.outcome == null).toList(), this::score);
            List<Trial> toTime = new ArrayList<>(trials.stream().filter(t -> t.outcome == null).toList());
            if (objective == Objective.SIZE) {
                // smallest first: once one passes, the larger ones cannot win and are not timed
                toTime.sort(Comparator.comparingLong(t -> t.size.gzipBytes()));
            }
            for (Trial trial : toTime) {
                Optional<String> hopeless = cannotWin(trial);
                if (hopeless.isPresent()) {
                    notTimed.incrementAndGet();
                    trial.outcome = "skipped";
                    trial.reason = "cannot win: " + hopeless.get();
                } else {
                    time(trial);
                }
            }
            trials.forEach(this::announce);
        }

        /**
         * Why {@code trial} cannot win whatever its latency, if it cannot: for a size objective, a candidate
         * larger than one that passed every gate.
         */
        Optional<String> cannotWin(Trial trial) {
            if (objective != Objective.SIZE || trial.size == null) {
                return Optional.empty();
            }
            return announcedAndPending().filter(t -> "passed".equals(t.outcome) && t != trial)
                    .filter(t -> t.size.gzipBytes() < trial.size.gzipBytes())
                    .min(Comparator.comparingLong(t -> t.size.gzipBytes()))
                    .map(best -> String.format(Locale.ROOT, "zipped it is %,d bytes, larger than the %,d bytes of %s, "
                            + "which passed every gate", trial.size.gzipBytes(), best.size.gzipBytes(), best.spec));
        }

        private final List<Trial> pending = new ArrayList<>();

        private synchronized Stream<Trial> announcedAndPending() {
            return Stream.concat(announced.stream(), pending.stream()).toList().stream();
        }

        synchronized void announce(Trial trial) {
            announced.add(trial);
            pending.remove(trial);
            listener.candidateFinished(announced.size(), Math.max(announced.size(), recipes.size()), trial.candidate());
        }

        /** Runs {@code work} on each trial, up to {@code parallelism} at once. */
        void parallel(List<Trial> trials, java.util.function.Consumer<Trial> work) {
            if (parallelism == 1 || trials.size() <= 1) {
                trials.forEach(work);
                return;
            }
            ExecutorService pool = Executors.newFixedThreadPool(Math.min(parallelism, trials.size()), r -> {
                Thread t = new Thread(r, "refinery-auto-" + jobId);
                t.setDaemon(true);
                return t;
            });
            try {
                List<Future<?>> futures = new ArrayList<>();
                for (Trial trial : trials) {
                    futures.add(pool.submit(() -> work.accept(trial)));
                }
                for (Future<?> f : futures) {
                    f.get();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new TransformCancelledException();
            } catch (ExecutionException e) {
                if (e.getCause() instanceof RuntimeException runtime) {
                    throw runtime;
                }
                throw new IllegalStateException(e.getCause());
            } finally {
                pool.shutdownNow();
            }
        }

        void transform(Trial trial) {
            transform(trial, statistics);
        }

        /** Runs one recipe and saves its output; marks it skipped or failed when it cannot run. */
        void transform(Trial trial, JobStatistics shared) {
            cancellation.throwIfCancelled();
            synchronized (this) {
                pending.add(trial);
            }
            listener.candidateStarted(trial.spec.toString());
            long start = System.nanoTime();
            Path dir = scratchRoot.resolve("candidate-" + counter.incrementAndGet());
            try (PipelinePlan plan = PipelinePlan.create(trial.spec, input, catalog)) {
                PipelineRunner.requireData(plan, data);
                Files.createDirectories(dir);
                // the candidate's output is checked, in the child process, at the batches and threads the
                // search's scoring and timing will run it at, before this process runs it
                JobEnvironment environment = new JobEnvironment(jobId, inference, data, dir.resolve("steps"), cancellation,
                        limits, shared, evaluation.probeRuns(true));
                PipelineResult result = new PipelineRunner().run(plan, input, environment, JobListener.none());
                if (!(result.output() instanceof OnnxArtifact)) {
                    throw new InvalidInputException("it ends with a " + result.output().format() + " model");
                }
                trial.file = dir.resolve(zipName);
                result.output().onnxModel().save(trial.file);
                trial.size = ArtifactMeasurer.measure(trial.file, result.output().onnxModel(), zipName);
                trial.result = new PipelineResult(ModelArtifact.file(trial.file, ModelFormat.ONNX), result.steps(),
                        result.reference());
                synchronized (this) {
                    if (reference == null) {
                        setReference(result.reference());
                    }
                }
            } catch (TransformCancelledException e) {
                throw e;
            } catch (io.modelrefinery.host.pipeline.UnknownTransformException e) {
                skip(trial, e.getMessage());
            } catch (io.modelrefinery.api.plugin.InvalidParamException e) {
                LOG.warn("auto recipe {} does not fit the installed transform: {}", trial.spec, e.getMessage());
                skip(trial, e.getMessage());
            } catch (InvalidInputException e) {
                if (trial.result == null && e.getMessage().contains(" needs ")) {
                    skip(trial, e.getMessage());
                } else {
                    fail(trial, e);
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot save a candidate under " + dir, e);
            } catch (RuntimeException e) {
                fail(trial, e);
            }
            LOG.info("job {}: auto candidate {} transformed in {} ms", jobId, trial.spec, millisSince(start));
        }

        private void skip(Trial trial, String reason) {
            trial.outcome = "skipped";
            trial.reason = reason;
        }

        private void fail(Trial trial, RuntimeException e) {
            LOG.info("auto candidate {} failed: {}", trial.spec, e.getMessage());
            trial.outcome = "failed";
            trial.reason = e.getMessage();
        }

        private void setReference(OnnxModel model) {
            reference = model;
            try {
                Path dir = Files.createDirectories(scratchRoot.resolve("reference"));
                Path file = dir.resolve(zipName);
                model.save(file);
                referenceSize = ArtifactMeasurer.measure(file, model, zipName);
                Folders.deleteQuietly(dir);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot measure the original model under " + scratchRoot, e);
            }
        }

        /** Scores and, when it passes the quality gates, times a transformed trial. */
        void evaluate(Trial trial) {
            score(trial);
            if (trial.outcome == null) {
                time(trial);
            }
        }

        /**
         * Scores a transformed trial against the original on the samples and checks the gates on accuracy and
         * fidelity: one that fails them is rejected here, without being timed. Leaves the outcome unset for
         * one that passed them.
         */
        void score(Trial trial) {
            long start = System.nanoTime();
            Evaluation scored = evaluator.score(opened(), trial.model());
            List<GateResult> checked = gates.checkQuality(scored);
            Optional<GateResult> failed = checked.stream().filter(g -> !g.passed()).findFirst();
            trial.evaluation = scored.withGates(checked);
            if (failed.isPresent()) {
                notTimed.incrementAndGet();
                trial.outcome = "rejected";
                trial.reason = failed.get().gate() + ": " + failed.get().detail();
            }
            LOG.info("job {}: auto candidate {} scored in {} ms", jobId, trial.spec, millisSince(start));
        }

        /** Times a scored trial against the original and checks every gate. */
        void time(Trial trial) {
            long start = System.nanoTime();
            timed.incrementAndGet();
            Evaluation measured = evaluator.withLatency(opened(), trial.model(), trial.evaluation);
            trial.evaluation = measured.withGates(gates.check(measured));
            Optional<GateResult> failed = trial.evaluation.gates().stream().filter(g -> !g.passed()).findFirst();
            trial.outcome = failed.isPresent() ? "rejected" : "passed";
            trial.reason = failed.map(g -> g.gate() + ": " + g.detail()).orElse(PASSED);
            LOG.info("job {}: auto candidate {} timed in {} ms", jobId, trial.spec, millisSince(start));
        }

        /** The trial's result with its output model read back from disk. */
        PipelineResult reload(Trial trial) {
            return new PipelineResult(ModelArtifact.onnx(trial.model()), trial.result.steps(), trial.result.reference());
        }
    }

    private static long millisSince(long start) {
        return (System.nanoTime() - start) / 1_000_000;
    }

    /**
     * The rejected trials a layer fallback applies to, one per failed gate: the one closest to passing it.
     * Recipes of one transform that differ in a setting (the calibration method) fail alike, and the same
     * layers in float help each alike; retrying every one would multiply the fallback's cost (a full
     * quantization per trial) for little more chance to pass.
     */
    private List<Trial> closestToPassing(Search search, List<Trial> trials, List<String> notes) {
        Map<String, Trial> closest = new LinkedHashMap<>();
        Map<String, List<Trial>> others = new LinkedHashMap<>();
        for (Trial trial : trials) {
            if (!"rejected".equals(trial.outcome) || !LayerFallback.applies(trial.spec, trial.evaluation, catalog)) {
                continue;
            }
            LayerFallback plan = new LayerFallback(trial.spec, trial.evaluation, search.reference(), catalog);
            Trial best = closest.get(plan.gate());
            if (best == null || plan.score(trial.evaluation) > plan.score(best.evaluation)) {
                closest.put(plan.gate(), trial);
                if (best != null) {
                    others.computeIfAbsent(plan.gate(), g -> new ArrayList<>()).add(best);
                }
            } else {
                others.computeIfAbsent(plan.gate(), g -> new ArrayList<>()).add(trial);
            }
        }
        others.forEach((gate, left) -> notes.add("auto retried " + closest.get(gate).spec + " with layers in float, the "
                + "closest to passing " + gate + ", and not " + String.join(", ", left.stream()
                .map(t -> t.spec.toString()).toList()) + ", which failed it by more"));
        return List.copyOf(closest.values());
    }

    /**
     * Retries a recipe with a layer fallback that failed a quality gate with layers left in float, as
     * Intel Neural Compressor does: the most sensitive layers are left in float, the count searched by
     * {@link LayerCounts} until the quality gates hold, {@code parallelism} counts transformed at once; only
     * the fewest that passed is timed. Sensitivity is what the failed step measured
     * (each layer's own output SQNR, in its report) when it did; else each weighted layer alone is first left
     * in float to measure how much that helps (on the samples: no latency is timed for it).
     * Returns the trials of the second phase by count, at most one of them passing.
     */
    private List<Trial> fallback(Search search, Trial failed) {
        LayerFallback plan = new LayerFallback(failed.spec, failed.evaluation, search.reference(), catalog);
        List<String> bySensitivity = plan.measured(failed.result.steps());
        List<String> layers = bySensitivity.isEmpty() ? plan.layers() : bySensitivity;
        if (layers.isEmpty()) {
            return List.of();
        }
        List<Trial> probes = new ArrayList<>();
        if (bySensitivity.isEmpty()) {
            for (String layer : layers) {
                probes.add(new Trial(plan.excluding(List.of(layer))));
            }
            search.parallel(probes, search::transform);
            search.parallel(probes.stream().filter(p -> p.outcome == null).toList(), search::score);
            List<Double> scores = new ArrayList<>();
            for (Trial probe : probes) {
                scores.add(probe.evaluated() ? plan.score(probe.evaluation) : Double.NEGATIVE_INFINITY);
            }
            bySensitivity = LayerFallback.rank(layers, scores);
        }
        LOG.info("job {}: layer sensitivity for {} ({}): {}", jobId, failed.spec,
                probes.isEmpty() ? "as the step measured it" : "by trial", bySensitivity);
        List<String> ranked = bySensitivity;
        Map<Integer, Trial> byCount = new java.util.TreeMap<>();
        if (!probes.isEmpty()) {
            byCount.put(1, probes.get(layers.indexOf(ranked.get(0))));
        }
        // Counts doubling (1, 2, 4, ... all) until one passes, then halving the gap to the last that failed:
        // about 2 log2(n) trials instead of n, and one when the first layer is enough. It takes that
        // leaving more layers in float does not make a recipe less accurate, as a linear search does too.
        LayerCounts counts = new LayerCounts(ranked.size());
        while (!counts.settled()) {
            List<Integer> next = counts.next(parallelism);
            List<Trial> batch = new ArrayList<>();
            for (int n : next) {
                batch.add(byCount.computeIfAbsent(n, c -> new Trial(plan.excluding(ranked.subList(0, c)))));
            }
            List<Trial> fresh = batch.stream().filter(t -> t.result == null && t.outcome == null).toList();
            search.parallel(fresh, search::transform);
            search.parallel(fresh.stream().filter(t -> t.outcome == null).toList(), search::score);
            for (int i = 0; i < next.size(); i++) {
                counts.record(next.get(i), batch.get(i).outcome == null);
            }
        }
        List<Trial> tried = new ArrayList<>();
        int fewest = counts.fewestPassing();
        for (Map.Entry<Integer, Trial> entry : byCount.entrySet()) {
            int count = entry.getKey();
            Trial trial = entry.getValue();
            if (trial.outcome == null && count == fewest) {
                search.time(trial);
            } else if (trial.outcome == null) {
                // more layers in float than needed: larger and no faster than the fewest that passed
                search.notTimed.incrementAndGet();
                trial.outcome = "skipped";
                trial.reason = "cannot win: the " + fewest + " most sensitive layers in float already passed the "
                        + "quality gates, and every layer more in float makes the model larger and slower";
            }
            if (trial.evaluated()) {
                trial.reason = (trial.outcome.equals("passed") ? "" : trial.reason + "; ") + "the " + count
                        + " most sensitive of " + layers.size() + " layers left in float: " + ranked.subList(0, count);
            }
            search.announce(trial);
            tried.add(trial);
        }
        return tried;
    }

    /** Whether every step of {@code spec} is an optimizer (a graph rewrite that computes what its input does). */
    private boolean graphOptimized(PipelineSpec spec) {
        return !spec.steps().isEmpty() && spec.steps().stream().allMatch(step -> catalog.descriptors().stream()
                .anyMatch(d -> d.id().equals(step.transformId()) && d.kind() == TransformKind.OPTIMIZER));
    }
}
