package io.modelrefinery.testkit;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.host.pipeline.LocalRun;
import io.modelrefinery.host.pipeline.PipelineResult;

import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Map;
import java.util.Objects;

/**
 * Runs a plugin's transforms as a job would, for the plugin's own tests: pipeline text parsed and planned by
 * the host, every step through the host's pipeline runner (parameter checks, data checks, output checks) and
 * ONNX Runtime on the CPU. Only api and test-kit types cross this class, so a plugin's tests never name the
 * host's internals.
 *
 * <pre>{@code
 * HarnessResult r = PluginHarness.of(new DistillTransform())
 *         .data(DataRole.TRAINING, Path.of("train.npz"))
 *         .run("distill(epochs=2)", ConformanceModels.sampleCnn(), tempDir);
 * double loss = r.metrics().get("epoch-1-loss");
 * }</pre>
 *
 * <p>The host's runner and ONNX Runtime service are used rather than a copy of them, so that a test meets
 * exactly what the transform meets in production.
 */
public final class PluginHarness {
    private final ModelTransform[] transforms;
    private final Map<DataRole, Dataset> data = new EnumMap<>(DataRole.class);

    private PluginHarness(ModelTransform[] transforms) {
        this.transforms = transforms.clone();
    }

    /** A harness whose pipelines may name any of {@code transforms} (a converter and the steps after it, say). */
    public static PluginHarness of(ModelTransform... transforms) {
        return new PluginHarness(transforms);
    }

    /** The job brings {@code dataset} in {@code role}. */
    public PluginHarness data(DataRole role, Dataset dataset) {
        data.put(Objects.requireNonNull(role, "role"), Objects.requireNonNull(dataset, "dataset"));
        return this;
    }

    /** The job brings the {@code .npz} file (or {@code .npy} for an input named {@code input}) in {@code role}. */
    public PluginHarness data(DataRole role, Path file) {
        return data(role, Datasets.open(file, "input"));
    }

    /** Plans and runs {@code pipeline} on {@code model}; temporary files go under {@code scratch}. */
    public HarnessResult run(String pipeline, OnnxModel model, Path scratch) {
        return run(pipeline, ModelArtifact.onnx(model), scratch);
    }

    /** Plans and runs {@code pipeline} on a model file in another format, which a converter in the harness takes first. */
    public HarnessResult run(String pipeline, Path file, ModelFormat format, Path scratch) {
        return run(pipeline, ModelArtifact.file(file, format), scratch);
    }

    /**
     * Plans and runs {@code pipeline} on {@code input}.
     *
     * @throws io.modelrefinery.api.InvalidInputException for what the host refuses before work (bad
     *     parameters, missing data) or a step refuses as bad input
     * @throws StepFailedException when a step fails otherwise, as a job would fail
     */
    public HarnessResult run(String pipeline, ModelArtifact input, Path scratch) {
        PipelineResult r;
        try {
            r = LocalRun.of(transforms).data(JobData.of(data)).run(pipeline, input, scratch);
        } catch (io.modelrefinery.host.pipeline.StepFailedException e) {
            // The host's own type stays behind the kit: the same message, cause and retry advice.
            throw new StepFailedException(e.getMessage(), e.getCause(), e.stepIndex(), e.transformId(), e.retriable());
        }
        return new HarnessResult(r.output(), r.steps(), r.reference());
    }

    /** The host's ONNX Runtime service on the CPU, as a transform's context gives it; files go under {@code scratch}. */
    public static InferenceService inference(Path scratch) {
        return RUNTIME.service(Device.CPU, scratch);
    }

    // One ONNX Runtime environment for the test JVM, as in the host process.
    private static final OrtRuntime RUNTIME = new OrtRuntime();
}
