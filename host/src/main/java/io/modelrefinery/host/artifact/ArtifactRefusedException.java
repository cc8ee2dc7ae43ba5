package io.modelrefinery.host.artifact;

import io.modelrefinery.api.InvalidInputException;

/**
 * The artifact URI, or what it points to, is not acceptable under the {@link ArtifactPolicy}: an
 * unsupported scheme, a file outside the allowed folders, a host not on the allow-list or resolving to a
 * private address, HTTP 4xx (except 429), a body over the size limit, a digest that does not match. The
 * same request would fail the same way again, so it is bad input (the CLI's exit code 2), never retried.
 * The message is one line: the URI (without credentials or query) and the reason.
 */
public class ArtifactRefusedException extends InvalidInputException {
    private static final long serialVersionUID = 1L;

    public ArtifactRefusedException(String message) {
        super(message);
    }

    public ArtifactRefusedException(String message, Throwable cause) {
        super(message, cause);
    }
}
