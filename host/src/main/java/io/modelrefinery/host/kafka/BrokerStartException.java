package io.modelrefinery.host.kafka;

/**
 * The embedded broker could not start: its port is taken, its data folder is unusable, or it did not
 * answer clients in time. Unchecked because a caller can do nothing with it but report it and stop;
 * the message says which of these happened.
 */
public final class BrokerStartException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    BrokerStartException(String message) {
        super(message);
    }

    BrokerStartException(String message, Throwable cause) {
        super(message, cause);
    }
}
