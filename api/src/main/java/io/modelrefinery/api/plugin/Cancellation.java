package io.modelrefinery.api.plugin;

/** Tells a running transform that its job was cancelled (timeout, shutdown, user request). */
@FunctionalInterface
public interface Cancellation {

    boolean isCancelled();

    /** Throws {@link TransformCancelledException} if the job was cancelled. */
    default void throwIfCancelled() {
        if (isCancelled()) {
            throw new TransformCancelledException();
        }
    }

    /** A cancellation that never happens. */
    static Cancellation never() {
        return () -> false;
    }
}
