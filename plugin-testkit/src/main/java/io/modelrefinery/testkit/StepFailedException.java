package io.modelrefinery.testkit;

/**
 * A {@link PluginHarness} step failed for a reason other than bad input: in a job, the job fails and the host
 * keeps running. The message is the one the job's failure event carries ({@code step N 'id': reason}); the
 * cause is what the transform threw.
 */
public final class StepFailedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int stepIndex;
    private final String transformId;
    private final boolean retriable;

    StepFailedException(String message, Throwable cause, int stepIndex, String transformId, boolean retriable) {
        super(message, cause);
        this.stepIndex = stepIndex;
        this.transformId = transformId;
        this.retriable = retriable;
    }

    /** The failed step's place in the pipeline, from 1 as in the message. */
    public int stepIndex() {
        return stepIndex;
    }

    public String transformId() {
        return transformId;
    }

    /** True when the host would offer to run the job again (the transform said so). */
    public boolean retriable() {
        return retriable;
    }
}
