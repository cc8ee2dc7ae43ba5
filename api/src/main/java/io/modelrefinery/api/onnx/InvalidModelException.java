package io.modelrefinery.api.onnx;

import io.modelrefinery.api.InvalidInputException;

/** A model that is not valid ONNX or is internally inconsistent; the message names the node or tensor. */
public class InvalidModelException extends InvalidInputException {
    private static final long serialVersionUID = 1L;

    public InvalidModelException(String message) {
        super(message);
    }

    public InvalidModelException(String message, Throwable cause) {
        super(message, cause);
    }
}
