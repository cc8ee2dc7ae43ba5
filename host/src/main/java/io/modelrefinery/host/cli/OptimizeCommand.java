package io.modelrefinery.host.cli;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
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
import io.modelrefinery.host.eval.ArtifactSummary;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.ort.DeviceChoice;
import io.modelrefinery.host.ort.DeviceRequest;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.osgi.PluginFramework;
import io.modelrefinery.host.pipeline.FormatDetector;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.host.pipeline.JobEnvironment;
import io.modelrefinery.host.pipeline.JobIds;
import io.modelrefinery.host.pipeline.JobReport;
import io.modelrefinery.host.pipeline.PipelinePlan;
import io.modelrefinery.host.pipeline.PipelineResult;
import io.modelrefinery.host.pipeline.PipelineRunner;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.pipeline.ReportJson;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code refinery optimize MODEL -o OUT}: runs a pipeline on a local model file, once. */
@Command(name = "optimize", mixinStandardHelpOptions = true,
        description = "Runs a pipeline on a model file and writes the optimized model and its report.")
final class OptimizeCommand implements Callable<Integer> {
    /** Until recipe search exists, the default pipeline is the one that never changes what a model computes. */
    static final String DEFAULT_PIPELINE = "graph-optimize";

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL", description = "The model file (ONNX; Keras and TFLite with a converter plugin).")
    Path model;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT", description = "Where to write the optimized ONNX model.")
    Path output;

    @Option(names = "--pipeline", paramLabel = "SPEC", defaultValue = DEFAULT_PIPELINE,
            description = "Steps separated by commas, parameters in parentheses, e.g. 'fp16(keep-io-types=true)'. Default: ${DEFAULT-VALUE}.")
    String pipeline;

    @Option(names = "--calibration", paramLabel = "NPZ", description = "Calibration samples (.npz, or .npy for single-input models).")
    Path calibration;

    @Option(names = "--eval", paramLabel = "NPZ", description = "Evaluation samples, with an optional 'labels' array.")
    Path evaluation;

    @Option(names = "--train", paramLabel = "NPZ", description = "Training samples, with a 'labels' array.")
    Path training;

    @Option(names = "--format", paramLabel = "FORMAT", description = "onnx, keras or tflite; inferred from the file when omitted.")
    String format;

    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "auto",
            description = "cpu, cuda or auto (CUDA when available). Default: ${DEFAULT-VALUE}.")
    DeviceRequest device;

    @Option(names = "--report", paramLabel = "FILE", description = "Write the job report (JSON) here.")
    Path report;

    @Option(names = "--plugins-dir", paramLabel = "DIR", description = "Plugin jars. Default: plugins/ next to refinery.jar.")
    Path pluginsDir;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        checkArguments();
        PipelineSpec pipelineSpec = PipelineSpec.parse(pipeline);
        ModelFormat modelFormat = format != null ? parseFormat(format) : FormatDetector.detect(model);
        OrtRuntime runtime = new OrtRuntime();
        DeviceChoice deviceChoice = runtime.resolve(device);

        Path work = Files.createTempDirectory("refinery-optimize-");
        try (PluginFramework plugins = PluginLauncher.start(pluginsDir, work, err)) {
            InferenceService inference = runtime.service(deviceChoice.device(), work.resolve("scratch"));
            ModelArtifact input = loadInput(modelFormat, inference);
            JobData data = openData(input);
            String name = stem(model);
            String version = "sha256-" + ArtifactMeasurer.sha256(model).substring(0, 12);
            String jobId = JobIds.of(name, version, pipelineSpec);
            PipelineResult result;
            long start = System.nanoTime();
            try (PipelinePlan plan = PipelinePlan.create(pipelineSpec, modelFormat, plugins.registry())) {
                JobEnvironment environment = new JobEnvironment(jobId, inference, data, work.resolve("jobs"),
                        Cancellation.never());
                result = new PipelineRunner().run(plan, input, environment,
                        new TerminalProgress(err, System.console() != null));
            }
            long elapsedMs = (System.nanoTime() - start) / 1_000_000;
            OnnxModel optimized = result.output().onnxModel();
            optimized.save(output);

            ArtifactSummary before = measureInput(input);
            ArtifactSummary after = ArtifactMeasurer.measure(output, optimized, model.getFileName().toString());
            JobReport jobReport = new JobReport(jobId, new JobReport.ModelRef(name, version), pipelineSpec.toString(),
                    before, after, result.steps(), null,
                    deviceChoice.note() == null ? List.of() : List.of(deviceChoice.note()));
            if (report != null) {
                ReportJson.write(report, jobReport);
            }
            out.println("wrote " + output + ": " + Format.bytes(before.bytes()) + " -> " + Format.bytes(after.bytes())
                    + " bytes, zipped " + Format.bytes(before.gzipBytes()) + " -> " + Format.bytes(after.gzipBytes())
                    + " (" + Format.change(before.gzipBytes(), after.gzipBytes()) + "), "
                    + result.steps().size() + " step" + (result.steps().size() == 1 ? "" : "s") + " in "
                    + Format.seconds(elapsedMs) + " on " + deviceChoice.device().id());
            return ExitCode.OK;
        } finally {
            Folders.deleteQuietly(work);
        }
    }

    private void checkArguments() {
        if (!Files.exists(model)) {
            throw new InvalidInputException("model file not found: " + model);
        }
        if (!Files.isRegularFile(model)) {
            throw new InvalidInputException("model path is not a file: " + model);
        }
        if (Files.isDirectory(output)) {
            throw new InvalidInputException("output path is a folder: " + output);
        }
        if (report != null && Files.isDirectory(report)) {
            throw new InvalidInputException("report path is a folder: " + report);
        }
        for (Path data : new Path[] {calibration, evaluation, training}) {
            if (data != null && !Files.isRegularFile(data)) {
                throw new InvalidInputException("dataset file not found: " + data);
            }
        }
    }

    private static ModelFormat parseFormat(String text) {
        try {
            return new ModelFormat(text.trim().toLowerCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new InvalidInputException("invalid --format '" + text + "': " + e.getMessage());
        }
    }

    /**
     * Reads the input; an ONNX model must pass structural validation and load in ONNX Runtime before
     * any plugin sees it.
     */
    private ModelArtifact loadInput(ModelFormat modelFormat, InferenceService inference) throws IOException {
        if (!modelFormat.equals(ModelFormat.ONNX)) {
            return ModelArtifact.file(model, modelFormat);
        }
        OnnxModel onnx = OnnxModel.load(model);
        ModelValidator.validate(onnx);
        SessionOptions loadOnly = SessionOptions.defaults().withOptimization(GraphOptimizationLevel.DISABLED);
        try (InferenceSession session = inference.open(onnx, loadOnly)) {
            return ModelArtifact.onnx(onnx);
        } catch (InferenceException e) {
            throw new InvalidInputException("ONNX Runtime cannot load " + model + ": " + e.getMessage(), e);
        }
    }

    private JobData openData(ModelArtifact input) {
        String singleInput = singleInputName(input);
        return new JobData(open(calibration, singleInput), open(evaluation, singleInput), open(training, singleInput));
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

    private ArtifactSummary measureInput(ModelArtifact input) throws IOException {
        if (input instanceof OnnxArtifact) {
            return ArtifactMeasurer.measure(model, input.onnxModel(), model.getFileName().toString());
        }
        long bytes = Files.size(model);
        return new ArtifactSummary(model.toAbsolutePath().toUri().toString(), ArtifactMeasurer.sha256(model), bytes,
                ArtifactMeasurer.zippedSize(model), 0, 0);
    }

    private static String stem(Path file) {
        String name = file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        return dot > 0 ? name.substring(0, dot) : name;
    }
}
