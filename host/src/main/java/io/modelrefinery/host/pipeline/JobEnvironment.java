package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.host.ort.ProbeRun;

import java.nio.file.Path;
import java.util.List;
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
 * @param statistics statistics steps computed from the samples, shared by every step that sees this
 *     environment (all candidates of one {@code auto} search share one)
 * @param evaluationRuns how the job's evaluation will run the pipeline's result (and the reference it
 *     compares with, when a converter step makes it) in the host's process, besides a deployer's run
 *     ({@code Evaluator.Settings.probeRuns(boolean)}): the output check makes these runs of those models first in
 *     its child process; none when nothing evaluates the result
 */
public record JobEnvironment(String jobId, InferenceService inference, JobData data, Path scratchRoot,
                             Cancellation cancellation, StepLimits limits, JobStatistics statistics,
                             List<ProbeRun> evaluationRuns) {
    public JobEnvironment {
        Objects.requireNonNull(jobId, "jobId");
        Objects.requireNonNull(inference, "inference");
        Objects.requireNonNull(data, "data");
        Objects.requireNonNull(scratchRoot, "scratchRoot");
        Objects.requireNonNull(cancellation, "cancellation");
        Objects.requireNonNull(limits, "limits");
        Objects.requireNonNull(statistics, "statistics");
        evaluationRuns = List.copyOf(evaluationRuns);
    }

    /** An environment whose result nothing evaluates: its outputs are checked with a deployer's run alone. */
    public JobEnvironment(String jobId, InferenceService inference, JobData data, Path scratchRoot,
                          Cancellation cancellation, StepLimits limits, JobStatistics statistics) {
        this(jobId, inference, data, scratchRoot, cancellation, limits, statistics, List.of());
    }

    /** An environment whose statistics are its own. */
    public JobEnvironment(String jobId, InferenceService inference, JobData data, Path scratchRoot,
                          Cancellation cancellation, StepLimits limits) {
        this(jobId, inference, data, scratchRoot, cancellation, limits, new JobStatistics(data));
    }

    /** An environment whose steps have no time limit. */
    public JobEnvironment(String jobId, InferenceService inference, JobData data, Path scratchRoot,
                          Cancellation cancellation) {
        this(jobId, inference, data, scratchRoot, cancellation, StepLimits.none());
    }
}
