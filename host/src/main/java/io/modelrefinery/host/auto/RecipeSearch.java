package io.modelrefinery.host.auto;

import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.event.ArtifactSummary;
import io.modelrefinery.api.event.Candidate;
import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.event.GateResult;
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
import java.util.Locale;
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
 * <p>Recipes run up to {@code parallelism} at a time; evaluation runs one candidate at a time so that
 * latencies are not measured on a machine busy with other candidates.
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
     */
    public record Outcome(PipelineSpec pipeline, PipelineResult result, Evaluation evaluation, boolean passed,
                          List<Candidate> candidates, List<String> notes) {
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
        effective.requireCheckable(true, labelled);

        List<Trial> trials = new ArrayList<>();
        for (PipelineSpec recipe : recipes) {
            trials.add(new Trial(recipe));
        }
        Search search = new Search(input, format, data, scoring, effective, zipName, listener);
        search.run(trials);
        int tried = trials.size();
        if (settings.fallback()) {
            for (int i = 0; i < tried; i++) {
                Trial trial = trials.get(i);
                if ("rejected".equals(trial.outcome) && LayerFallback.applies(trial.spec, trial.evaluation, catalog)) {
                    trials.addAll(fallback(search, trial));
                }
            }
        }
        return choose(trials, settings.objective(), search, notes);
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

    private Outcome choose(List<Trial> trials, Objective objective, Search search, List<String> notes) {
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
        return new Outcome(pick.spec, result, pick.evaluation, passed, trials.stream().map(Trial::candidate).toList(),
                notes);
    }

    private static Comparator<Trial> order(Objective objective, ArtifactSummary reference) {
        Comparator<Trial> bySize = Comparator.comparingLong(t -> t.size.gzipBytes());
        Comparator<Trial> byLatency = Comparator.comparingDouble(t -> t.evaluation.latencyMsAfter());
        return switch (objective) {
            case SIZE -> bySize.thenComparing(byLatency);
            case LATENCY -> byLatency.thenComparing(bySize);
            case BALANCED -> Comparator.<Trial>comparingDouble(t -> Math.sqrt(
                    (double) t.size.gzipBytes() / reference.gzipBytes() * t.evaluation.latencyRatio()))
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
        private final String zipName;
        private final JobListener listener;
        private final AtomicInteger counter = new AtomicInteger();
        private OnnxModel reference;
        private ArtifactSummary referenceSize;
        private int finished;

        Search(ModelArtifact input, ModelFormat format, JobData data, Dataset scoring, QualityGates gates, String zipName,
               JobListener listener) {
            this.input = input;
            this.format = format;
            this.data = data;
            this.scoring = scoring;
            this.gates = gates;
            this.zipName = zipName;
            this.listener = listener;
            if (input instanceof OnnxArtifact) {
                setReference(input.onnxModel());
            }
        }

        OnnxModel reference() {
            return reference;
        }

        /** Transforms {@code trials} (in parallel), then evaluates them one by one. */
        void run(List<Trial> trials) {
            transformAll(trials);
            for (Trial trial : trials) {
                if (trial.outcome == null) {
                    evaluate(trial);
                }
                announce(trial);
            }
        }

        void announce(Trial trial) {
            finished++;
            listener.candidateFinished(finished, Math.max(finished, recipes.size()), trial.candidate());
        }

        void transformAll(List<Trial> trials) {
            if (parallelism == 1 || trials.size() == 1) {
                trials.forEach(this::transform);
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
                    futures.add(pool.submit(() -> transform(trial)));
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

        /** Runs one recipe and saves its output; marks it skipped or failed when it cannot run. */
        void transform(Trial trial) {
            cancellation.throwIfCancelled();
            Path dir = scratchRoot.resolve("candidate-" + counter.incrementAndGet());
            try (PipelinePlan plan = PipelinePlan.create(trial.spec, input, catalog)) {
                PipelineRunner.requireData(plan, data);
                Files.createDirectories(dir);
                JobEnvironment environment = new JobEnvironment(jobId, inference, data, dir.resolve("steps"), cancellation,
                        limits);
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

        /** Scores a transformed trial against the original and checks the gates. */
        void evaluate(Trial trial) {
            OnnxModel output = reload(trial).output().onnxModel();
            Evaluator evaluator = new Evaluator(inference, evaluation, Progress.none(), cancellation);
            Evaluation measured = evaluator.evaluate(reference, output, scoring);
            trial.evaluation = measured.withGates(gates.check(measured));
            Optional<GateResult> failed = trial.evaluation.gates().stream().filter(g -> !g.passed()).findFirst();
            trial.outcome = failed.isPresent() ? "rejected" : "passed";
            trial.reason = failed.map(g -> g.gate() + ": " + g.detail()).orElse(PASSED);
        }

        /** The trial's result with its output model read back from disk. */
        PipelineResult reload(Trial trial) {
            try {
                OnnxModel model = OnnxModel.load(trial.file);
                return new PipelineResult(ModelArtifact.onnx(model), trial.result.steps(), trial.result.reference());
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read candidate " + trial.file, e);
            }
        }

    }

    /**
     * Retries a recipe with a layer fallback that failed a quality gate with layers left in float, as
     * Intel Neural Compressor does: first each weighted layer alone is left in float to measure how much that helps
     * (its sensitivity), then the most sensitive layers are left in float one more at a time until the
     * gates hold. Returns the trials of the second phase, the last one passing if any did.
     */
    private List<Trial> fallback(Search search, Trial failed) {
        LayerFallback plan = new LayerFallback(failed.spec, failed.evaluation, search.reference(), catalog);
        List<String> layers = plan.layers();
        if (layers.isEmpty()) {
            return List.of();
        }
        List<Trial> probes = new ArrayList<>();
        for (String layer : layers) {
            probes.add(new Trial(plan.excluding(List.of(layer))));
        }
        search.transformAll(probes);
        List<Double> scores = new ArrayList<>();
        for (Trial probe : probes) {
            if (probe.outcome == null) {
                search.evaluate(probe);
            }
            scores.add(probe.evaluated() ? plan.score(probe.evaluation) : Double.NEGATIVE_INFINITY);
        }
        List<String> bySensitivity = LayerFallback.rank(layers, scores);
        LOG.info("job {}: layer sensitivity for {}: {}", jobId, failed.spec, bySensitivity);
        List<Trial> tried = new ArrayList<>();
        for (int k = 1; k <= bySensitivity.size(); k++) {
            PipelineSpec spec = plan.excluding(bySensitivity.subList(0, k));
            Trial trial = k == 1 ? probes.get(layers.indexOf(bySensitivity.get(0))) : new Trial(spec);
            if (k > 1) {
                search.transform(trial);
                if (trial.outcome == null) {
                    search.evaluate(trial);
                }
            }
            if (trial.evaluated()) {
                trial.reason = (trial.outcome.equals("passed") ? "" : trial.reason + "; ") + "the " + k
                        + " most sensitive of " + layers.size() + " layers left in float: " + bySensitivity.subList(0, k);
            }
            search.announce(trial);
            tried.add(trial);
            if ("passed".equals(trial.outcome)) {
                break;
            }
        }
        return tried;
    }

    /** Whether every step of {@code spec} is an optimizer (a graph rewrite that computes what its input does). */
    private boolean graphOptimized(PipelineSpec spec) {
        return !spec.steps().isEmpty() && spec.steps().stream().allMatch(step -> catalog.descriptors().stream()
                .anyMatch(d -> d.id().equals(step.transformId()) && d.kind() == TransformKind.OPTIMIZER));
    }
}
