package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.host.ort.OrtRuntime;

import java.nio.file.Path;

/**
 * Runs transforms outside the plugin framework, with the host's real pipeline runner and ONNX Runtime
 * (on the CPU unless told otherwise): for plugin tests and benchmarks. Every check the host makes applies.
 *
 * <pre>{@code
 * PipelineResult r = LocalRun.of(new Fp16Transform()).data(data).run("fp16(keep-io-types=false)", model, tempDir);
 * }</pre>
 */
public final class LocalRun {
    private final TransformCatalog catalog;
    private JobData data = JobData.none();
    private Device device = Device.CPU;

    private LocalRun(TransformCatalog catalog) {
        this.catalog = catalog;
    }

    public static LocalRun of(ModelTransform... transforms) {
        return new LocalRun(TransformCatalog.of(transforms));
    }

    public LocalRun data(JobData jobData) {
        this.data = jobData;
        return this;
    }

    /** Runs sessions on {@code target} (CUDA needs the gpu build and a GPU); the CPU by default. */
    public LocalRun device(Device target) {
        this.device = target;
        return this;
    }

    /** Plans and runs {@code pipeline} on {@code model}; temporary files go under {@code scratch}. */
    public PipelineResult run(String pipeline, OnnxModel model, Path scratch) {
        return run(pipeline, ModelArtifact.onnx(model), scratch);
    }

    /**
     * Plans and runs {@code pipeline} on a model in any format, a Keras or TFLite file for example, which
     * goes through a converter first as in a job.
     */
    public PipelineResult run(String pipeline, ModelArtifact input, Path scratch) {
        PipelineSpec spec = PipelineSpec.parse(pipeline);
        JobEnvironment environment = new JobEnvironment(JobIds.of("local", "0", spec),
                new OrtRuntime().service(device, scratch.resolve("ort")), data, scratch.resolve("jobs"),
                Cancellation.never());
        try (PipelinePlan plan = PipelinePlan.create(spec, input, catalog)) {
            return new PipelineRunner().run(plan, input, environment, JobListener.none());
        }
    }
}
