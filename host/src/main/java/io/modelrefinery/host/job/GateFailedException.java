package io.modelrefinery.host.job;

/**
 * The job ran, but its result failed a quality gate, so it is not published as optimized. Not retriable:
 * the same model and pipeline give the same result. The message says which gate failed and by how much.
 */
public final class GateFailedException extends RuntimeException {
    private final transient JobResult result;

    public GateFailedException(JobResult result, String message) {
        super(message);
        this.result = result;
    }

    /** The rejected result, with its evaluation and gate results, for the outcome's report. */
    public JobResult result() {
        return result;
    }
}
