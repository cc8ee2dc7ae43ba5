package io.modelrefinery.host.event;

import io.modelrefinery.api.InvalidInputException;

/** A webhook delivery whose signature or timestamp does not check out (HTTP 401). */
public class WebhookRejectedException extends InvalidInputException {
    private static final long serialVersionUID = 1L;

    public WebhookRejectedException(String message) {
        super(message);
    }
}
