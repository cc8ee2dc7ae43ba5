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
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.OnnxArtifact;
import io.modelrefinery.host.eval.ArtifactMeasurer;
import io.modelrefinery.host.pipeline.FormatDetector;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.host.pipeline.JobEnvironment;
import io.modelrefinery.host.pipeline.JobListener;
import io.modelrefinery.host.pipeline.PipelinePlan;
import io.modelrefinery.host.pipeline.PipelineResult;
import io.modelrefinery.host.pipeline.PipelineRunner;
import io.modelrefinery.host.pipeline.TransformCatalog;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Runs one job on local files: reads and checks the input model, opens the datasets, plans and runs the
 * pipeline. The CLI and the service both enter here; they differ only in where the output goes.
 */
public final class JobRunner {
    private final TransformCatalog catalog;
    private final InferenceService inference;
    private final Path scratchRoot;

    /**
     * @param catalog where transforms come from
     * @param inference ONNX Runtime on the job's device
     * @param scratchRoot a folder for the job's temporary files
     */
    public JobRunner(TransformCatalog catalog, InferenceService inference, Path scratchRoot) {
        this.catalog = catalog;
        this.inference = inference;
        this.scratchRoot = scratchRoot;
    }

    /**
     * Runs {@code request}.
     *
     * @throws InvalidInputException for a bad model, dataset or pipeline (also from a step)
     * @throws io.modelrefinery.host.pipeline.StepFailedException when a step fails otherwise
     * @throws IOException when local files cannot be read
     */
    public JobResult run(JobRequest request, JobListener listener, Cancellation cancellation) throws IOException {
        ModelFormat format = request.format() != null ? request.format() : FormatDetector.detect(request.modelFile());
        ModelArtifact input = loadInput(request.modelFile(), format);
        JobData data = openData(request, input);
        long start = System.nanoTime();
        PipelineResult result;
        List<String> notes;
        try (PipelinePlan plan = PipelinePlan.create(request.pipeline(), format, catalog)) {
            JobEnvironment environment = new JobEnvironment(request.jobId(), inference, data, scratchRoot, cancellation);
            result = new PipelineRunner().run(plan, input, environment, listener);
            notes = plan.notes();
        }
        long durationMs = (System.nanoTime() - start) / 1_000_000;
        if (!(result.output() instanceof OnnxArtifact)) {
            throw new InvalidInputException("pipeline '" + request.pipeline() + "' ends with a " + result.output().format()
                    + " model; it must end with ONNX");
        }
        return new JobResult(request, result.output().onnxModel(), measureInput(request, input), result.steps(),
                durationMs, notes);
    }

    /**
     * Reads the input. An ONNX model must pass structural validation and load in ONNX Runtime before any
     * plugin sees it.
     */
    private ModelArtifact loadInput(Path file, ModelFormat format) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new InvalidInputException("model file not found: " + file);
        }
        if (!format.equals(ModelFormat.ONNX)) {
            return ModelArtifact.file(file, format);
        }
        OnnxModel onnx = OnnxModel.load(file);
        ModelValidator.validate(onnx);
        SessionOptions loadOnly = SessionOptions.defaults().withOptimization(GraphOptimizationLevel.DISABLED);
        try (InferenceSession session = inference.open(onnx, loadOnly)) {
            return ModelArtifact.onnx(onnx);
        } catch (InferenceException e) {
            throw new InvalidInputException("ONNX Runtime cannot load " + file + ": " + e.getMessage(), e);
        }
    }

    private static JobData openData(JobRequest request, ModelArtifact input) {
        String singleInput = singleInputName(input);
        return new JobData(open(request.calibration(), singleInput), open(request.evaluation(), singleInput),
                open(request.training(), singleInput));
    }

    private static Dataset open(Path file, String singleInput) {
        return file == null ? null : Datasets.open(file, singleInput);
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
        return new ArtifactSummary(request.inputUri(), local.sha256(), local.bytes(), local.gzipBytes(), local.params(),
                local.sparsity());
    }
}
