package io.modelrefinery.api.event;

import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * An HTTP answer as {@link RegistryHttp#send} read it.
 *
 * @param status the HTTP status
 * @param contentType the {@code Content-Type} header, or {@code null}
 * @param body the body, empty when there was none
 */
public record RegistryResponse(int status, String contentType, byte[] body) {
    public RegistryResponse {
        body = Objects.requireNonNullElse(body, new byte[0]);
    }

    /** The body as UTF-8 text. */
    public String text() {
        return new String(body, StandardCharsets.UTF_8);
    }

    /** Whether the status is 2xx. */
    public boolean ok() {
        return status >= 200 && status < 300;
    }
}
