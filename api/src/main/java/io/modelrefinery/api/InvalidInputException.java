package io.modelrefinery.api;

/**
 * Input that cannot be processed as given: a malformed model, a bad parameter value, a dataset that
 * does not fit the model. The message is one line that names the offending thing. Retrying the same
 * input gives the same failure, so callers report it (the CLI exits with code 2) rather than retry.
 */
public class InvalidInputException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public InvalidInputException(String message) {
        super(message);
    }

    public InvalidInputException(String message, Throwable cause) {
        super(message, cause);
    }
}
