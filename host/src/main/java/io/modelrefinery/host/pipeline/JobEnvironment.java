package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.plugin.Cancellation;

import java.nio.file.Path;
import java.util.Objects;

/**
 * What the host provides to every step of one job.
 *
 * @param jobId the job, for logs
 * @param inference ONNX Runtime on the job's device
 * @param data the job's datasets
 * @param scratchRoot a folder for the job's temporary files; each step gets an empty subfolder
 * @param cancellation tells steps that the job was cancelled
 * @param limits how long each step may run
 */
public record JobEnvironment(String jobId, InferenceService inference, JobData data, Path scratchRoot,
                             Cancellation cancellation, StepLimits limits) {
    public JobEnvironment {
        Objects.requireNonNull(jobId, "jobId");
        Objects.requireNonNull(inference, "inference");
        Objects.requireNonNull(data, "data");
        Objects.requireNonNull(scratchRoot, "scratchRoot");
        Objects.requireNonNull(cancellation, "cancellation");
        Objects.requireNonNull(limits, "limits");
    }

    /** An environment whose steps have no time limit. */
    public JobEnvironment(String jobId, InferenceService inference, JobData data, Path scratchRoot,
                          Cancellation cancellation) {
        this(jobId, inference, data, scratchRoot, cancellation, StepLimits.none());
    }
}
