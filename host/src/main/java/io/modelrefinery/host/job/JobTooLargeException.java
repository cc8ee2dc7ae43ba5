package io.modelrefinery.host.job;

import io.modelrefinery.api.InvalidInputException;

/**
 * A model too large for the memory one job may use here, refused before any work. Not retriable on this
 * host: the same model needs the same memory.
 */
public final class JobTooLargeException extends InvalidInputException {
    private static final long serialVersionUID = 1L;

    public JobTooLargeException(String message) {
        super(message);
    }
}
