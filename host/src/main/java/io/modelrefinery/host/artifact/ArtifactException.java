package io.modelrefinery.host.artifact;

/**
 * An artifact could not be fetched or stored for a reason that is not the caller's fault: the server
 * timed out or failed, the connection broke, the local disk refused a write. {@link #retriable()} tells
 * whether trying the same fetch again later could succeed (timeouts, connection failures, HTTP 5xx and
 * 429), so that a job queue can retry those and fail the others at once. What the caller got wrong is an
 * {@link ArtifactRefusedException} instead.
 */
public class ArtifactException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final boolean retriable;

    public ArtifactException(String message, boolean retriable) {
        super(message);
        this.retriable = retriable;
    }

    public ArtifactException(String message, boolean retriable, Throwable cause) {
        super(message, cause);
        this.retriable = retriable;
    }

    /** True when the same fetch could succeed later: a timeout, a lost connection, HTTP 5xx or 429. */
    public boolean retriable() {
        return retriable;
    }
}
