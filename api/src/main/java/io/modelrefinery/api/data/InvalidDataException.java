package io.modelrefinery.api.data;

import io.modelrefinery.api.InvalidInputException;

/** A dataset file that is malformed or does not fit the model; the message names the file and array. */
public class InvalidDataException extends InvalidInputException {
    private static final long serialVersionUID = 1L;

    public InvalidDataException(String message) {
        super(message);
    }

    public InvalidDataException(String message, Throwable cause) {
        super(message, cause);
    }
}
