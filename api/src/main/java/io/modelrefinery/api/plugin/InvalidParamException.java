package io.modelrefinery.api.plugin;

import io.modelrefinery.api.InvalidInputException;

/** A pipeline parameter that is unknown, missing or has a value its spec refuses. */
public class InvalidParamException extends InvalidInputException {
    private static final long serialVersionUID = 1L;

    public InvalidParamException(String message) {
        super(message);
    }
}
