package io.modelrefinery.api.event;

/**
 * A registry could not be reached or did not do what was asked, for a reason that is not the event's
 * fault: a timeout, a lost connection, a server error, a refused credential. The host retries a job that
 * failed with a {@linkplain #retriable() retriable} one and reports the others at once; either way the
 * message is one line that says which registry call failed and why, without credentials.
 */
public class RegistryException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final boolean retriable;

    public RegistryException(String message, boolean retriable) {
        super(message);
        this.retriable = retriable;
    }

    public RegistryException(String message, boolean retriable, Throwable cause) {
        super(message, cause);
        this.retriable = retriable;
    }

    /** True when the same call could succeed later: a timeout, a lost connection, HTTP 5xx or 429. */
    public boolean retriable() {
        return retriable;
    }
}
