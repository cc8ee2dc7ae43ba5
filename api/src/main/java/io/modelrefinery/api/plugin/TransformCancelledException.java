package io.modelrefinery.api.plugin;

/** Thrown by {@link Cancellation#throwIfCancelled()}; the host records the job as cancelled. */
public class TransformCancelledException extends TransformException {
    private static final long serialVersionUID = 1L;

    public TransformCancelledException() {
        super("cancelled", false);
    }
}
