package io.modelrefinery.host.job;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.event.ArtifactSummary;
import io.modelrefinery.api.infer.GraphOptimizationLevel;
import io.modelrefinery.api.infer.InferenceException;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.ModelValidator;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.OnnxArtifact;
import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.host.auto.AutoRecipes;
import io.modelrefinery.host.auto.RecipeMemory;
import io.modelrefinery.host.auto.RecipeSearch;
import io.modelrefinery.host.eval.ArtifactMeasurer;
import io.modelrefinery.host.eval.Evaluator;
import io.modelrefinery.host.eval.QualityGates;
import io.modelrefinery.host.ort.IsolatedProbe;
import io.modelrefinery.host.pipeline.FormatDetector;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.host.pipeline.JobEnvironment;
import io.modelrefinery.host.pipeline.JobListener;
import io.modelrefinery.host.pipeline.JobStatistics;
import io.modelrefinery.host.pipeline.PipelinePlan;
import io.modelrefinery.host.pipeline.PipelineResult;
import io.modelrefinery.host.pipeline.PipelineRunner;
import io.modelrefinery.host.pipeline.StepLimits;
import io.modelrefinery.host.pipeline.TransformCatalog;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Runs one job on local files: reads and checks the input model, opens the datasets, plans and runs the
 * pipeline. The CLI and the service both enter here; they differ only in where the output goes.
 */
public final class JobRunner {
    private final TransformCatalog catalog;
    private final InferenceService inference;
    private final Path scratchRoot;
    private final Settings settings;

    /**
     * How jobs run.
     *
     * @param autoParallelism recipes the {@code auto} pipeline transforms at once
     * @param evaluation how results are evaluated
     * @param limits how long each step may run
     * @param memoryBudget heap one job may use, in bytes: a model whose estimated need is larger is refused
     *     before any work; 0 for no check
     * @param untrustedModelProbe when set, every input ONNX model is first opened and run in a child process
     *     ({@code serve --isolate-untrusted-models}); {@code null} opens it in this process directly
     * @param recipeMemory where {@code auto} remembers each model's winning recipe and statistics for its next
     *     version ({@code serve --data-dir}, {@code optimize --state}); {@code null} remembers nothing
     */
    public record Settings(int autoParallelism, Evaluator.Settings evaluation, StepLimits limits, long memoryBudget,
                           IsolatedProbe untrustedModelProbe, RecipeMemory recipeMemory) {
        /** Heap a job needs per byte of model: the parsed model, a transformed copy, its serialization, slack. */
        public static final int MEMORY_PER_MODEL_BYTE = 4;

        public Settings {
            if (autoParallelism < 1) {
                throw new IllegalArgumentException("autoParallelism must be at least 1: " + autoParallelism);
            }
            Objects.requireNonNull(evaluation, "evaluation");
            Objects.requireNonNull(limits, "limits");
            if (memoryBudget < 0) {
                throw new IllegalArgumentException("memoryBudget must not be negative: " + memoryBudget);
            }
        }

        /** Settings without recipe memory. */
        public Settings(int autoParallelism, Evaluator.Settings evaluation, StepLimits limits, long memoryBudget,
                        IsolatedProbe untrustedModelProbe) {
            this(autoParallelism, evaluation, limits, memoryBudget, untrustedModelProbe, null);
        }

        /** The same settings, remembering winning recipes in {@code memory}. */
        public Settings withRecipeMemory(RecipeMemory memory) {
            return new Settings(autoParallelism, evaluation, limits, memoryBudget, untrustedModelProbe, memory);
        }

        /** One recipe at a time, default evaluation, no step time limit, no memory check. */
        public static Settings defaults() {
            return new Settings(1, Evaluator.Settings.defaults(), StepLimits.none(), 0, null);
        }

        /** 80% of this JVM's maximum heap shared by {@code jobsAtOnce} jobs. */
        public static long heapShare(int jobsAtOnce) {
            return (long) (Runtime.getRuntime().maxMemory() * 0.8 / Math.max(1, jobsAtOnce));
        }
    }

    /**
     * @param catalog where transforms come from
     * @param inference ONNX Runtime on the job's device
     * @param scratchRoot a folder for the job's temporary files
     */
    public JobRunner(TransformCatalog catalog, InferenceService inference, Path scratchRoot) {
        this(catalog, inference, scratchRoot, Settings.defaults());
    }

    public JobRunner(TransformCatalog catalog, InferenceService inference, Path scratchRoot, Settings settings) {
        this.catalog = catalog;
        this.inference = inference;
        this.scratchRoot = scratchRoot;
        this.settings = settings;
    }

    /**
     * Runs {@code request}: the pipeline (or the {@code auto} search), then the evaluation against the
     * original: latency always (a result slower than the original fails unless the pipeline sets
     * {@code max-latency-ratio}), accuracy and fidelity when the job has evaluation samples.
     *
     * @throws InvalidInputException for a bad model, dataset, pipeline or gate (also from a step)
     * @throws io.modelrefinery.host.pipeline.StepFailedException when a step fails otherwise
     * @throws GateFailedException when the result fails a quality gate
     * @throws IOException when local files cannot be read
     */
    public JobResult run(JobRequest request, JobListener listener, Cancellation cancellation) throws IOException {
        JobPipeline pipeline = JobPipeline.of(request.pipeline());
        QualityGates gates = request.gates().overriddenBy(pipeline.gates());
        ModelFormat format = request.format() != null ? request.format() : FormatDetector.detect(request.modelFile());
        requireMemory(request.modelFile(), Files.isRegularFile(request.modelFile()) ? Files.size(request.modelFile()) : 0);
        LoadedInput loaded = loadInput(request.modelFile(), format);
        if (loaded.artifact() instanceof OnnxArtifact onnx && onnx.onnxModel().hasExternalData()) {
            requireMemory(request.modelFile(), onnx.onnxModel().tensorBytes());
        }
        ModelArtifact input = loaded.artifact();
        JobData data = openData(request, input);
        if (data.evaluation().isPresent() && loaded.inputs() != null) {
            Datasets.requireFits(data.evaluation().get(), loaded.inputs());
        }
        ArtifactSummary inputSummary = measureInput(request, input);
        long start = System.nanoTime();
        if (pipeline.auto().isPresent()) {
            return runAuto(request, pipeline, format, input, loaded.inputs(), data, gates, inputSummary, listener,
                    cancellation, start);
        }
        gates.requireCheckable(data.evaluation().isPresent(),
                data.evaluation().flatMap(d -> d.labels()).isPresent());
        // Never publish a slower model by default: a pipeline allows a slowdown only with max-latency-ratio;
        // nor, where evaluation samples measure it, one that no longer computes what the original does.
        QualityGates checked = gates.orNoSlowdown().orFidelityFloor();
        PipelineResult ran;
        List<String> notes;
        try (PipelinePlan plan = PipelinePlan.create(pipeline.transforms(), input, catalog)) {
            JobEnvironment environment = new JobEnvironment(request.jobId(), inference, data, scratchRoot, cancellation,
                    settings.limits(), new JobStatistics(data),
                    settings.evaluation().probeRuns(data.evaluation().isPresent()));
            ran = new PipelineRunner().run(plan, input, environment, listener);
            notes = new ArrayList<>(plan.notes());
        }
        if (!(ran.output() instanceof OnnxArtifact)) {
            throw new InvalidInputException("pipeline '" + request.pipeline() + "' ends with a " + ran.output().format()
                    + " model; it must end with ONNX");
        }
        Evaluation evaluated = evaluate(ran, data, gates, checked, listener, cancellation, notes);
        JobResult result = new JobResult(request, ran.output().onnxModel(), inputSummary, ran.steps(), evaluated, null,
                notes, millisSince(start));
        if (!result.passed()) {
            throw new GateFailedException(result, firstFailure(evaluated));
        }
        return result;
    }

    /**
     * The {@code auto} search, from the model's remembered recipe when the settings keep a memory and its
     * previous version won with the same inputs; a passing winner is remembered for the next version.
     */
    private JobResult runAuto(JobRequest request, JobPipeline pipeline, ModelFormat format, ModelArtifact input,
                              List<TensorInfo> inputs, JobData data, QualityGates gates, ArtifactSummary inputSummary,
                              JobListener listener, Cancellation cancellation, long start) throws IOException {
        RecipeMemory memory = settings.recipeMemory();
        Optional<RecipeMemory.Remembered> remembered = memory == null || inputs == null || !pipeline.auto().get().memory()
                ? Optional.empty() : memory.recall(request.model().name(), inputs);
        RecipeSearch search = new RecipeSearch(AutoRecipes.of(catalog), catalog, inference, scratchRoot.resolve("auto"),
                settings.autoParallelism(), settings.evaluation(), settings.limits(), request.jobId(), cancellation);
        RecipeSearch.Outcome found = search.search(input, format, data, gates, pipeline.auto().get(),
                request.modelFile().getFileName().toString(), listener, new JobStatistics(data), remembered);
        JobResult result = new JobResult(request, found.result().output().onnxModel(), inputSummary,
                found.result().steps(), found.evaluation(), found.candidates(), found.notes(), millisSince(start),
                found.search());
        if (!found.passed()) {
            String why = found.evaluation().passed() ? found.candidates().stream()
                    .filter(c -> c.pipeline().equals(found.pipeline().toString())).findFirst()
                    .map(c -> "was rejected: " + c.reason()).orElse("was rejected")
                    : "failed " + firstFailure(found.evaluation());
            throw new GateFailedException(result, "auto: no candidate passed the gates; the closest, " + found.pipeline()
                    + ", " + why);
        }
        if (memory != null && inputs != null) {
            memory.remember(request.model().name(), request.model().version(), inputs, found.pipeline().toString(),
                    found.statistics());
        }
        return result;
    }

    /**
     * Compares the pipeline's output with the original: always its latency (for the default latency gate),
     * and accuracy and fidelity when the job has evaluation samples. When only the default gate asked for
     * it and the two models cannot be run alike (their inputs differ, or cannot be generated), the result
     * is published unmeasured and a note says why.
     */
    private Evaluation evaluate(PipelineResult ran, JobData data, QualityGates gates, QualityGates checked,
                                JobListener listener, Cancellation cancellation, List<String> notes) {
        if (ran.reference() == null) {
            return null;
        }
        boolean onlyDefaultGate = data.evaluation().isEmpty() && gates.isEmpty();
        OnnxModel output = ran.output().onnxModel();
        if (onlyDefaultGate && unchanged(ran.reference(), output)) {
            notes.add("latency not compared with the original's: the pipeline left the graph unchanged");
            return null;
        }
        listener.evaluationStarted();
        Evaluator evaluator = new Evaluator(inference, settings.evaluation(), listener::evaluationProgress, cancellation);
        Evaluation measured;
        try {
            measured = evaluator.evaluate(ran.reference(), output, data.evaluation().orElse(null));
        } catch (InvalidInputException | InferenceException e) {
            if (!onlyDefaultGate) {
                throw e;
            }
            // Nothing asked for this comparison but the default gate: a model that cannot be timed on
            // generated inputs (a shape they cannot fill, an input it does not accept) is no reason to fail.
            notes.add("latency not compared with the original's: " + firstLine(e.getMessage()));
            return null;
        }
        Evaluation evaluated = measured.withGates(checked.check(measured));
        listener.evaluationFinished(evaluated);
        return evaluated;
    }

    /** Whether the pipeline's output computes exactly what the original does, node for node. */
    private static boolean unchanged(OnnxModel reference, OnnxModel output) {
        return reference.graph().equals(output.graph())
                && reference.proto().getOpsetImportList().equals(output.proto().getOpsetImportList());
    }

    private static String firstLine(String message) {
        return message == null ? "" : message.lines().findFirst().orElse("");
    }

    /** Refuses a model whose estimated heap need exceeds what one job may use, before any work. */
    private void requireMemory(Path model, long modelBytes) {
        long need = modelBytes * Settings.MEMORY_PER_MODEL_BYTE;
        if (settings.memoryBudget() > 0 && need > settings.memoryBudget()) {
            throw new JobTooLargeException(model.getFileName() + " needs an estimated " + size(need) + " of memory ("
                    + Settings.MEMORY_PER_MODEL_BYTE + " x its " + size(modelBytes) + "), more than the " + size(settings.memoryBudget())
                    + " one job may use here: give the JVM more heap (-Xmx) or run fewer jobs at once");
        }
    }

    private static String size(long bytes) {
        if (bytes < 1L << 20) {
            return String.format(java.util.Locale.ROOT, "%.0f KiB", bytes / 1024.0);
        }
        return String.format(java.util.Locale.ROOT, bytes >= 1L << 30 ? "%.1f GiB" : "%.1f MiB",
                bytes / (double) (bytes >= 1L << 30 ? 1L << 30 : 1L << 20));
    }

    private static long millisSince(long start) {
        return (System.nanoTime() - start) / 1_000_000;
    }

    /** "gate NAME: DETAIL" of the first gate that failed. */
    private static String firstFailure(Evaluation evaluation) {
        return evaluation.gates().stream().filter(g -> !g.passed()).findFirst()
                .map(g -> "gate " + g.gate() + ": " + g.detail()).orElse("no gate");
    }

    /** The input model, and for ONNX its inputs as ONNX Runtime sees them. */
    private record LoadedInput(ModelArtifact artifact, List<TensorInfo> inputs) {
    }

    /**
     * Reads the input. An ONNX model must pass structural validation and load in ONNX Runtime before any
     * plugin sees it.
     */
    private LoadedInput loadInput(Path file, ModelFormat format) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new InvalidInputException("model file not found: " + file);
        }
        if (!format.equals(ModelFormat.ONNX)) {
            return new LoadedInput(ModelArtifact.file(file, format), null);
        }
        OnnxModel onnx = OnnxModel.load(file);
        ModelValidator.validate(onnx);
        if (settings.untrustedModelProbe() != null) {
            // as the evaluation will run it, samples or not: the job's data is not open yet
            settings.untrustedModelProbe().check(file, settings.evaluation().probeRuns(true));
        }
        SessionOptions loadOnly = SessionOptions.defaults().withOptimization(GraphOptimizationLevel.DISABLED);
        try (InferenceSession session = inference.open(onnx, loadOnly)) {
            return new LoadedInput(ModelArtifact.onnx(onnx), session.inputs());
        } catch (InferenceException e) {
            throw new InvalidInputException("ONNX Runtime cannot load " + file + ": " + e.getMessage(), e);
        }
    }

    private static JobData openData(JobRequest request, ModelArtifact input) {
        String singleInput = singleInputName(input);
        Map<DataRole, Dataset> data = new EnumMap<>(DataRole.class);
        request.data().forEach((role, file) -> data.put(role, Datasets.open(file, singleInput)));
        return JobData.of(data);
    }

    /** The name a .npy dataset's array takes: the model's input, when it has exactly one. */
    private static String singleInputName(ModelArtifact input) {
        if (input instanceof OnnxArtifact) {
            List<String> names = GraphIndex.of(input.onnxModel().graph()).runtimeInputs().stream()
                    .map(v -> v.getName()).toList();
            if (names.size() == 1) {
                return names.get(0);
            }
        }
        return "input";
    }

    private static ArtifactSummary measureInput(JobRequest request, ModelArtifact input) throws IOException {
        Path file = request.modelFile();
        ArtifactSummary local = input instanceof OnnxArtifact
                ? ArtifactMeasurer.measure(file, input.onnxModel(), file.getFileName().toString())
                : new ArtifactSummary(file.toUri().toString(), ArtifactMeasurer.sha256(file), Files.size(file),
                        ArtifactMeasurer.zippedSize(file), 0, 0);
        return local.withUri(request.inputUri());
    }
}
