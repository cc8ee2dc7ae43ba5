package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.InvalidInputException;

/** A pipeline names a transform that no installed plugin offers. */
public class UnknownTransformException extends InvalidInputException {
    private static final long serialVersionUID = 1L;

    public UnknownTransformException(String message) {
        super(message);
    }
}
