package io.modelrefinery.api.event;

import java.net.URI;
import java.nio.file.Path;
import java.util.Map;

/**
 * HTTP requests the host makes for a plugin, under the same policy as the {@code http(s):} artifacts of
 * events: the host must be on {@code serve --allow-host}, may resolve to a private address only when the
 * operator named it with {@code --allow-private-host}, and every transfer has a size cap and a time limit.
 * The given headers (credentials among them) go to the URI's own scheme, host and port only: a
 * redirect elsewhere is followed without them, and only {@code GET} requests follow redirects at all.
 *
 * <p>Failures: {@link io.modelrefinery.api.InvalidInputException} when the request is refused by the
 * policy or the answer cannot be used (too large, not found for a download); {@link RegistryException}
 * when it failed on the way, {@linkplain RegistryException#retriable() retriable} for timeouts, lost
 * connections and unresolvable hosts.
 */
public interface RegistryHttp {
    /** The largest answer {@link #send} reads into memory. */
    int MAX_RESPONSE_BYTES = 16 << 20;

    /**
     * One request with a body held in memory ({@code null} for none), for the registry's API calls. Every
     * status is returned as it came, error statuses included, so that the registry's own error body can
     * be read.
     */
    RegistryResponse send(String method, URI uri, Map<String, String> headers, byte[] body);

    /** One request whose body is a file, streamed: an upload. Every status is returned as it came. */
    RegistryResponse send(String method, URI uri, Map<String, String> headers, Path body);

    /**
     * Downloads {@code uri} with {@code GET} into {@code directory}, under the last segment of its path
     * (made safe for a file name), whole or not at all, within the host's artifact size limit.
     *
     * @return the file
     * @throws io.modelrefinery.api.InvalidInputException for HTTP 4xx (except 429) and refusals
     * @throws RegistryException for HTTP 5xx and 429 (retriable) and transfer failures
     */
    Path download(URI uri, Map<String, String> headers, Path directory);
}
