package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.InvalidInputException;

/** A pipeline spec that does not parse; the message quotes the spec and says what is wrong where. */
public class PipelineSyntaxException extends InvalidInputException {
    private static final long serialVersionUID = 1L;

    public PipelineSyntaxException(String message) {
        super(message);
    }
}
