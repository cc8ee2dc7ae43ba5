package io.modelrefinery.host.cli;

import io.modelrefinery.host.pipeline.DataSources;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.ArtifactSummary;
import io.modelrefinery.api.event.JobReport;
import io.modelrefinery.api.event.ModelRef;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.host.pipeline.DefaultPipelines;
import io.modelrefinery.host.auto.RecipeMemory;
import io.modelrefinery.host.eval.ArtifactMeasurer;
import io.modelrefinery.host.eval.Evaluator;
import io.modelrefinery.host.eval.QualityGates;
import io.modelrefinery.host.event.EventJson;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.job.GateFailedException;
import io.modelrefinery.host.job.JobRequest;
import io.modelrefinery.host.job.JobResult;
import io.modelrefinery.host.job.JobRunner;
import io.modelrefinery.host.ort.DeviceChoice;
import io.modelrefinery.host.ort.DeviceRequest;
import io.modelrefinery.host.ort.IsolatedProbe;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.osgi.PluginFramework;
import io.modelrefinery.host.pipeline.JobIds;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.pipeline.StepLimits;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code refinery optimize MODEL -o OUT}: runs a pipeline on a local model file, once. */
@Command(name = "optimize", mixinStandardHelpOptions = true,
        description = "Runs a pipeline on a model file and writes the optimized model and its report.")
final class OptimizeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MODEL", description = "The model file (ONNX; Keras and TFLite with a converter plugin).")
    Path model;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT", description = "Where to write the optimized ONNX model.")
    Path output;

    @Option(names = "--pipeline", paramLabel = "SPEC",
            description = "Steps separated by commas, parameters in parentheses: 'STEP(NAME=VALUE,...),STEP' "
                    + "(refinery plugins lists them). Default: ${DEFAULT-VALUE}.")
    String pipeline = DefaultPipelines.JOB;

    @Option(names = DataSources.CALIBRATION_OPTION, paramLabel = "NPZ", description = "Calibration samples (.npz, or .npy for single-input models).")
    Path calibration;

    @Option(names = DataSources.EVALUATION_OPTION, paramLabel = "NPZ", description = "Evaluation samples, with an optional 'labels' array.")
    Path evaluation;

    @Option(names = DataSources.TRAINING_OPTION, paramLabel = "NPZ", description = "Training samples, with a 'labels' array.")
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

    @Option(names = "--gate", paramLabel = "NAME=VALUE", description = "A quality gate the result must pass, such as "
            + "max-accuracy-drop=0.005, min-sqnr-db=30, min-top1-agreement=0.99 or max-latency-ratio=1.2 (repeatable).")
    List<String> gateSettings = new ArrayList<>();

    @Option(names = "--step-timeout", paramLabel = "DURATION", defaultValue = "0", converter = DurationConverter.class,
            description = "How long one pipeline step may run before the command fails (90s, 30m, 2h; default 0: no limit).")
    Duration stepTimeout;

    @Option(names = "--latency-budget", paramLabel = "DURATION", defaultValue = "3s", converter = DurationConverter.class,
            description = "How long to time the result against the original (in pairs of runs, after warm-up) once "
                    + "the fewest pairs are in; timing stops sooner when the ratio is stable. Default: ${DEFAULT-VALUE}.")
    Duration latencyBudget;

    @Option(names = "--isolate", description = "Open the model in a separate process first, so that a model that "
            + "crashes ONNX Runtime's native code is refused instead of ending this command.")
    boolean isolate;

    @Option(names = "--workers", paramLabel = "N", defaultValue = "1",
            description = "Recipes the auto pipeline transforms at once (default: ${DEFAULT-VALUE}).")
    int workers;

    @Option(names = "--state", paramLabel = "DIR", description = "A folder kept between runs: the auto pipeline "
            + "remembers each model's winning recipe and calibration statistics there (in recipes/), and a later run "
            + "on a new version of the same model (same file name, same inputs) tries them first.")
    Path state;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        checkArguments();
        PipelineSpec pipelineSpec = PipelineSpec.parse(pipeline);
        ModelFormat modelFormat = format != null ? parseFormat(format) : null;
        OrtRuntime runtime = new OrtRuntime();
        DeviceChoice deviceChoice = runtime.resolve(device);

        QualityGates gates = QualityGates.parseAssignments(gateSettings, "--gate");
        Path work = Files.createTempDirectory("refinery-optimize-");
        try (PluginFramework plugins = PluginLauncher.start(pluginsDir, work, err)) {
            String name = stem(model);
            String version = "sha256-" + ArtifactMeasurer.sha256(model).substring(0, 12);
            JobRequest request = new JobRequest(JobIds.of(name, version, pipelineSpec), new ModelRef(name, version),
                    model.toAbsolutePath().toUri().toString(), model, modelFormat, pipelineSpec, data(), gates);
            JobRunner runner = new JobRunner(plugins.registry(),
                    runtime.service(deviceChoice.device(), work.resolve("scratch")), work.resolve("jobs"),
                    new JobRunner.Settings(workers, Evaluator.Settings.defaults().withLatencyBudget(latencyBudget.toMillis(),
                            1), StepLimits.of(stepTimeout),
                            JobRunner.Settings.heapShare(1), isolate ? new IsolatedProbe(IsolatedProbe.Limits.defaults()) : null,
                            state == null ? null : new RecipeMemory(state.resolve("recipes"))));
            List<String> hostNotes = deviceChoice.note() == null ? List.of() : List.of(deviceChoice.note());
            JobResult result;
            try {
                result = runner.run(request, new TerminalProgress(err, System.console() != null), Cancellation.never());
            } catch (GateFailedException rejected) {
                if (report != null) { // the numbers that failed, for the user to see; the model itself is not written
                    Path file = work.resolve("rejected").resolve(rejected.result().zipName());
                    Files.createDirectories(file.getParent());
                    rejected.result().output().save(file);
                    ArtifactSummary measured = ArtifactMeasurer.measure(file, rejected.result().output(),
                            rejected.result().zipName());
                    EventJson.writeReport(report, rejected.result().report(measured.withUri(null), hostNotes));
                }
                throw rejected;
            }
            result.output().save(output);

            ArtifactSummary after = ArtifactMeasurer.measure(output, result.output(), result.zipName());
            JobReport jobReport = result.report(after, hostNotes);
            if (report != null) {
                EventJson.writeReport(report, jobReport);
            }
            ArtifactSummary before = result.input();
            int steps = result.steps().size();
            out.println("wrote " + output + ": " + Format.bytes(before.bytes()) + " -> " + Format.bytes(after.bytes())
                    + " bytes, zipped " + Format.bytes(before.gzipBytes()) + " -> " + Format.bytes(after.gzipBytes())
                    + " (" + Format.change(before.gzipBytes(), after.gzipBytes()) + "), " + steps + " step"
                    + (steps == 1 ? "" : "s") + " in " + Format.seconds(result.durationMs()) + " on "
                    + deviceChoice.device().id());
            if (result.evaluation() != null) {
                out.println(Format.evaluation(result.evaluation()));
            }
            return ExitCode.OK;
        } finally {
            Folders.deleteQuietly(work);
        }
    }

    private void checkArguments() {
        if (workers < 1) {
            throw new InvalidInputException("invalid --workers " + workers + ": must be at least 1");
        }
        if (!Files.exists(model)) {
            throw new InvalidInputException("model file not found: " + model);
        }
        if (!Files.isRegularFile(model)) {
            throw new InvalidInputException("model path is not a file: " + model);
        }
        if (Files.isDirectory(output)) {
            throw new InvalidInputException("output path is a folder: " + output);
        }
        if (state != null && Files.exists(state) && !Files.isDirectory(state)) {
            throw new InvalidInputException("invalid --state " + state + ": it is a file, not a folder");
        }
        if (report != null && Files.isDirectory(report)) {
            throw new InvalidInputException("report path is a folder: " + report);
        }
        for (Path data : data().values()) {
            if (!Files.isRegularFile(data)) {
                throw new InvalidInputException("dataset file not found: " + data);
            }
        }
    }

    /** The dataset files given, by role. */
    private Map<DataRole, Path> data() {
        Map<DataRole, Path> data = new EnumMap<>(DataRole.class);
        data.put(DataRole.CALIBRATION, calibration);
        data.put(DataRole.EVALUATION, evaluation);
        data.put(DataRole.TRAINING, training);
        data.values().removeIf(java.util.Objects::isNull);
        return data;
    }

    private static ModelFormat parseFormat(String text) {
        try {
            return new ModelFormat(text.trim().toLowerCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new InvalidInputException("invalid --format '" + text + "': " + e.getMessage());
        }
    }

    private static String stem(Path file) {
        String name = file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        return dot > 0 ? name.substring(0, dot) : name;
    }
}
