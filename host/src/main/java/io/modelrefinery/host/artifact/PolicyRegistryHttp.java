package io.modelrefinery.host.artifact;

import io.modelrefinery.api.event.RegistryException;
import io.modelrefinery.api.event.RegistryHttp;
import io.modelrefinery.api.event.RegistryResponse;

import java.io.FileNotFoundException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * The host's {@link RegistryHttp}: every request goes through the {@link ArtifactFetcher} and so under
 * its {@link ArtifactPolicy} (allowed hosts, private addresses, size caps, timeouts), and its failures
 * become the api's exceptions: refusals stay {@link ArtifactRefusedException} (an
 * {@link io.modelrefinery.api.InvalidInputException}), everything else becomes a
 * {@link RegistryException} with the fetcher's verdict on retrying.
 */
public final class PolicyRegistryHttp implements RegistryHttp {
    /** How long one API call with a body in memory may take: registry calls answer in seconds, uploads take longer. */
    static final Duration API_TIMEOUT = Duration.ofSeconds(60);

    private final ArtifactFetcher fetcher;

    public PolicyRegistryHttp(ArtifactFetcher fetcher) {
        this.fetcher = Objects.requireNonNull(fetcher, "fetcher");
    }

    @Override
    public RegistryResponse send(String method, URI uri, Map<String, String> headers, byte[] body) {
        HttpRequest.BodyPublisher publisher = body == null ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofByteArray(body);
        Duration timeout = fetcher.policy().readTimeout().compareTo(API_TIMEOUT) < 0 ? fetcher.policy().readTimeout()
                : API_TIMEOUT;
        return exchange(method, uri, headers, publisher, timeout);
    }

    @Override
    public RegistryResponse send(String method, URI uri, Map<String, String> headers, Path body) {
        HttpRequest.BodyPublisher publisher;
        try {
            publisher = HttpRequest.BodyPublishers.ofFile(body);
        } catch (FileNotFoundException e) {
            throw new IllegalArgumentException("no file to send: " + body, e);
        }
        return exchange(method, uri, headers, publisher, fetcher.policy().readTimeout());
    }

    @Override
    public Path download(URI uri, Map<String, String> headers, Path directory) {
        requireRemote(uri);
        try {
            return fetcher.fetch(uri, directory, null, headers);
        } catch (ArtifactRefusedException e) {
            throw e;
        } catch (ArtifactException e) {
            throw new RegistryException(e.getMessage(), e.retriable(), e);
        }
    }

    private RegistryResponse exchange(String method, URI uri, Map<String, String> headers,
                                      HttpRequest.BodyPublisher body, Duration timeout) {
        requireRemote(uri);
        try {
            ArtifactFetcher.Answer answer = fetcher.exchange(method.toUpperCase(Locale.ROOT), uri, headers, body,
                    MAX_RESPONSE_BYTES, timeout);
            return new RegistryResponse(answer.status(), answer.contentType(), answer.body());
        } catch (ArtifactRefusedException e) {
            throw e;
        } catch (ArtifactException e) {
            throw new RegistryException(e.getMessage(), e.retriable(), e);
        }
    }

    private static void requireRemote(URI uri) {
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            throw new ArtifactRefusedException(ArtifactFetcher.display(uri) + " is not an http: or https: URI");
        }
    }
}
