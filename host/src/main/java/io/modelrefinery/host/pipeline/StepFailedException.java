package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.plugin.TransformException;

/** A step failed for a reason other than bad input: the job fails, the host keeps running. */
public class StepFailedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int stepIndex;
    private final String transformId;
    private final boolean retriable;

    public StepFailedException(int stepIndex, String transformId, Throwable cause) {
        super("step " + stepIndex + " '" + transformId + "' failed: " + describe(cause), cause);
        this.stepIndex = stepIndex;
        this.transformId = transformId;
        this.retriable = cause instanceof TransformException && ((TransformException) cause).retriable();
    }

    private static String describe(Throwable cause) {
        String message = cause.getMessage();
        return message == null || message.isBlank() ? cause.getClass().getSimpleName() : message;
    }

    public int stepIndex() {
        return stepIndex;
    }

    public String transformId() {
        return transformId;
    }

    /** True when running the job again could succeed. */
    public boolean retriable() {
        return retriable;
    }
}
