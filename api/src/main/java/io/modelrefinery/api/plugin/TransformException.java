package io.modelrefinery.api.plugin;

/**
 * A transform failed for a reason other than bad input. {@link #retriable()} tells the host whether
 * running the same step again could succeed (a busy GPU, a lost connection), as Kafka Connect's
 * {@code RetriableException} does; a fatal failure fails the job at once.
 */
public class TransformException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final boolean retriable;

    public TransformException(String message, boolean retriable) {
        super(message);
        this.retriable = retriable;
    }

    public TransformException(String message, boolean retriable, Throwable cause) {
        super(message, cause);
        this.retriable = retriable;
    }

    public static TransformException fatal(String message) {
        return new TransformException(message, false);
    }

    public static TransformException retriable(String message) {
        return new TransformException(message, true);
    }

    public boolean retriable() {
        return retriable;
    }
}
