package io.modelrefinery.host.event;

import io.modelrefinery.api.InvalidInputException;

/** An event that cannot be read: not JSON, not a CloudEvent, an unknown type, a missing field. */
public class MalformedEventException extends InvalidInputException {
    private static final long serialVersionUID = 1L;

    public MalformedEventException(String message) {
        super(message);
    }
}
