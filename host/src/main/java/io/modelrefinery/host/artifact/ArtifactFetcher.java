package io.modelrefinery.host.artifact;

import io.modelrefinery.api.AtomicFiles;
import io.modelrefinery.host.eval.ArtifactMeasurer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemNotFoundException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Pattern;
import javax.net.ssl.SSLException;

/**
 * Copies or downloads the artifact a URI names into a local folder, within an {@link ArtifactPolicy}.
 * URIs come from the model registry, so each one is treated as untrusted: the file name is sanitized, a
 * {@code file:} URI is resolved through its symbolic links and must stay inside the allowed folders, and
 * every HTTP hop (redirects are followed here, not by the client) is checked against the host allow-list
 * and, after resolving the name, against private addresses. Bytes are counted as they arrive and the
 * transfer stops past {@link ArtifactPolicy#maxBytes()}, whatever Content-Length said.
 *
 * <p>The artifact is written to a hidden temporary file in the target folder and renamed into place
 * only once complete and verified ({@link AtomicFiles}); on any failure the temporary file is deleted, so
 * a partial download never remains. An existing file of the same name is replaced.
 *
 * <p>Failures: {@link ArtifactRefusedException} for everything the caller got wrong (see there);
 * {@link ArtifactException} otherwise, {@linkplain ArtifactException#retriable() retriable} for
 * timeouts, connection failures, unresolvable hosts, HTTP 5xx and 429; not retriable for TLS failures,
 * unexpected statuses and local write errors.
 *
 * <p>Limits: the host name is resolved and checked before the HTTP client connects, and the client
 * resolves it again (normally from the JVM's address cache); a DNS server that answers differently
 * within seconds (DNS rebinding) is not fully excluded. Likewise a {@code file:} path is checked and then
 * opened without following a final symbolic link, but a folder inside a root that is swapped for a link
 * in between is not detected: the roots are expected to be folders the host controls.
 *
 * <p>Thread-safe; one instance can serve concurrent fetches. Create one per policy and keep it: with
 * allowed hosts it owns an {@link HttpClient} (a selector thread and a connection pool).
 */
public final class ArtifactFetcher {
    private static final Logger LOG = LoggerFactory.getLogger(ArtifactFetcher.class);

    /** Redirects followed per fetch; one more is refused. */
    static final int MAX_REDIRECTS = 5;

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final int MAX_NAME_LENGTH = 128;

    private final ArtifactPolicy policy;
    private final HttpClient client;

    public ArtifactFetcher(ArtifactPolicy policy) {
        this.policy = Objects.requireNonNull(policy, "policy");
        this.client = !policy.remoteAllowed() ? null : HttpClient.newBuilder()
                .connectTimeout(policy.connectTimeout())
                // Redirects are followed by hand so that every hop is checked against the policy.
                .followRedirects(HttpClient.Redirect.NEVER)
                // One large body per request: HTTP/2 gains nothing, and its cleartext upgrade trips some servers.
                .version(HttpClient.Version.HTTP_1_1)
                .build();
    }

    public ArtifactPolicy policy() {
        return policy;
    }

    /** Fetches {@code uri} into {@code targetDir} without digest verification; see {@link #fetch(URI, Path, String)}. */
    public Path fetch(URI uri, Path targetDir) {
        return fetch(uri, targetDir, null);
    }

    /**
     * Copies ({@code file:}) or downloads ({@code http:}, {@code https:}) {@code uri} into
     * {@code targetDir}, under the last segment of the URI's path made safe (letters, digits, {@code .},
     * {@code -}, {@code _}; no leading dot; {@code artifact} when nothing is left). The folder is created
     * when missing.
     *
     * @param expectedSha256OrNull the SHA-256 the artifact must have, 64 hex digits (an optional
     *     {@code sha256:} or {@code sha256-} prefix is accepted); {@code null} to skip the check
     * @return the local file, complete
     * @throws ArtifactRefusedException the URI or its artifact is not acceptable (the caller's mistake)
     * @throws ArtifactException the fetch failed otherwise; see {@link ArtifactException#retriable()}
     */
    public Path fetch(URI uri, Path targetDir, String expectedSha256OrNull) {
        return fetch(uri, targetDir, expectedSha256OrNull, Map.of());
    }

    /**
     * {@link #fetch(URI, Path, String)} with request headers for {@code http(s):} URIs, such as a
     * registry's credentials: they are sent to the URI's own origin (scheme, host, port) only, never to
     * a redirect elsewhere.
     */
    public Path fetch(URI uri, Path targetDir, String expectedSha256OrNull, Map<String, String> headers) {
        Objects.requireNonNull(uri, "uri");
        Objects.requireNonNull(headers, "headers");
        Objects.requireNonNull(targetDir, "targetDir");
        String expected = expectedSha256(uri, expectedSha256OrNull);
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        Path source = null;
        switch (scheme) {
            case "file":
                source = checkFile(uri);
                break;
            case "http":
            case "https":
                checkRemote(uri, uri, false);
                break;
            case "":
                throw refused(uri, "is not an absolute URI (file:, http: or https:)");
            default:
                throw refused(uri, "has unsupported scheme '" + scheme + "' (file, http and https are supported)");
        }
        Path target = targetDir.toAbsolutePath().normalize().resolve(fileName(uri));
        Path temp;
        try {
            temp = AtomicFiles.createTemp(target);
        } catch (IOException e) {
            throw new ArtifactException(display(uri) + ": cannot write into " + targetDir + ": " + describe(e), false, e);
        }
        boolean done = false;
        try {
            long bytes = source != null ? copyFile(uri, source, temp) : download(uri, temp, headers);
            if (expected != null) {
                String actual = ArtifactMeasurer.sha256(temp);
                if (!actual.equals(expected)) {
                    throw refused(uri, "has sha256 " + actual + ", expected " + expected);
                }
            }
            AtomicFiles.commit(temp, target);
            done = true;
            LOG.debug("Fetched {} ({} bytes) to {}", display(uri), bytes, target);
            return target;
        } catch (IOException e) {
            throw new ArtifactException(display(uri) + ": cannot copy into " + target + ": " + describe(e), false, e);
        } finally {
            if (!done) {
                try {
                    Files.deleteIfExists(temp);
                } catch (IOException e) {
                    LOG.warn("Cannot delete the partial download {}: {}", temp, describe(e));
                }
            }
        }
    }

    // ---------------------------------------------------------------- file:

    /** The real path of the file {@code uri} names, after every check of the policy. */
    private Path checkFile(URI uri) {
        if (uri.isOpaque()) {
            throw refused(uri, "is not a hierarchical file: URI (use file:///absolute/path)");
        }
        if (uri.getRawAuthority() != null && !uri.getRawAuthority().isEmpty()) {
            throw refused(uri, "names a host; only local file: URIs are supported");
        }
        if (policy.fileRoots().isEmpty()) {
            throw refused(uri, "is a file: URI, and no file roots are allowed");
        }
        String path = uri.getPath();
        if (path == null || path.isEmpty()) {
            throw refused(uri, "has no path");
        }
        for (String segment : path.split("/", -1)) {
            if (segment.equals("..")) {
                throw refused(uri, "contains '..'; paths must not leave their folder");
            }
        }
        Path file;
        try {
            file = Path.of(uri);
        } catch (IllegalArgumentException | FileSystemNotFoundException e) {
            throw refused(uri, "is not a usable file path: " + describe(e));
        }
        // Lexically first, so that nothing outside the roots is even looked at (no existence oracle).
        if (!insideRoots(file.normalize(), false)) {
            throw refused(uri, "is outside the allowed folders " + policy.fileRoots());
        }
        Path real;
        try {
            real = file.toRealPath();
        } catch (NoSuchFileException e) {
            throw refused(uri, "does not exist");
        } catch (AccessDeniedException e) {
            throw refused(uri, "cannot be read: permission denied");
        } catch (IOException e) {
            throw new ArtifactException(display(uri) + ": cannot resolve the path: " + describe(e), false, e);
        }
        if (!insideRoots(real, true)) {
            throw refused(uri, "resolves through a symbolic link to " + real + ", outside the allowed folders "
                    + policy.fileRoots());
        }
        if (!Files.isRegularFile(real, LinkOption.NOFOLLOW_LINKS)) {
            throw refused(uri, "is not a regular file");
        }
        long size;
        try {
            size = Files.size(real);
        } catch (IOException e) {
            throw new ArtifactException(display(uri) + ": cannot read the size: " + describe(e), false, e);
        }
        if (size > policy.maxBytes()) {
            throw refused(uri, "is " + size + " bytes, more than the limit of " + policy.maxBytes());
        }
        return real;
    }

    /**
     * Whether {@code path} lies under a root. {@code real}: compare with the roots' real paths (roots that
     * do not exist hold nothing); otherwise with the roots as configured and as resolved, so that a URI may
     * name a root through a symbolic link of its own (such as macOS's /tmp).
     */
    private boolean insideRoots(Path path, boolean real) {
        for (Path root : policy.fileRoots()) {
            if (!real && path.startsWith(root)) {
                return true;
            }
            try {
                if (path.startsWith(root.toRealPath())) {
                    return true;
                }
            } catch (IOException e) {
                // a root that does not exist holds nothing
            }
        }
        return false;
    }

    private long copyFile(URI uri, Path source, Path temp) throws IOException {
        // NOFOLLOW_LINKS: the checked file must not have become a link in the meantime.
        try (InputStream in = Files.newInputStream(source, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
             OutputStream out = Files.newOutputStream(temp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            byte[] buffer = new byte[1 << 16];
            long count = 0;
            for (int n; (n = in.read(buffer)) >= 0; ) {
                count += n;
                if (count > policy.maxBytes()) { // the file grew after the check
                    throw tooLarge(uri);
                }
                out.write(buffer, 0, n);
            }
            return count;
        } catch (NoSuchFileException e) {
            throw refused(uri, "does not exist");
        }
    }

    // ---------------------------------------------------------------- http:, https:

    /**
     * Checks one hop of a remote fetch: scheme, host allow-list, then every address the host resolves to.
     * The allow-list comes first, so a host that is not allowed is not even resolved.
     */
    private void checkRemote(URI original, URI hop, boolean redirected) {
        if (!policy.remoteAllowed()) {
            throw refused(original, "is remote, and no remote hosts are allowed");
        }
        String via = redirected ? "redirects to " + display(hop) + ", which " : "";
        String scheme = hop.getScheme() == null ? "" : hop.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            throw refused(original, via + "is not an http: or https: URI");
        }
        if (redirected && original.getScheme().equalsIgnoreCase("https") && scheme.equals("http")) {
            throw refused(original, "redirects from https to plain http: " + display(hop));
        }
        if (hop.getRawUserInfo() != null) {
            throw refused(original, via + "carries credentials in the URI, which are not supported");
        }
        String host = hop.getHost();
        if (host == null || host.isEmpty()) {
            throw refused(original, via + "has no valid host name");
        }
        if (!policy.hostAllowed(host)) {
            throw refused(original, via + "has host '" + host + "', not on the allowed hosts");
        }
        InetAddress[] addresses;
        try {
            addresses = InetAddress.getAllByName(ArtifactPolicy.normalizeHost(host));
        } catch (UnknownHostException e) {
            throw new ArtifactException(display(original) + ": cannot resolve host '" + host + "'"
                    + (redirected ? " (redirected to " + display(hop) + ")" : ""), true, e);
        }
        if (!policy.privateAllowed(host)) {
            for (InetAddress address : addresses) {
                if (PrivateAddresses.isPrivate(address)) {
                    throw refused(original, via + "has host '" + host + "' resolving to the non-public address "
                            + address.getHostAddress() + " (only hosts named with --allow-private-host may)");
                }
            }
        }
    }

    private long download(URI uri, Path temp, Map<String, String> headers) {
        Exchange exchange = new Exchange(temp, policy.maxBytes());
        Hop<Long> last = send(uri, "GET", headers, HttpRequest.BodyPublishers.noBody(), exchange, policy.readTimeout());
        int status = last.response().statusCode();
        if (status == 200) {
            return last.response().body();
        }
        String where = last.uri().equals(uri) ? "" : " (after redirects, at " + display(last.uri()) + ")";
        if (status == 429 || status >= 500) {
            throw new ArtifactException(display(uri) + ": HTTP " + status + where, true);
        }
        if (status >= 400) {
            throw refused(uri, "answered HTTP " + status + where);
        }
        throw new ArtifactException(display(uri) + ": unexpected HTTP " + status + where, false);
    }

    /** An HTTP answer read into memory by {@link #exchange}. */
    public record Answer(int status, String contentType, byte[] body) {
    }

    /**
     * One HTTP request to an {@code http(s):} URI under the policy, its answer read into memory whatever
     * its status: for registry API calls, whose error bodies say what went wrong. Only {@code GET}
     * follows redirects (each hop checked like a fetch); {@code headers} go to the URI's own origin only.
     *
     * @param maxResponseBytes the largest body read; a larger one is refused
     * @param timeout how long the whole exchange may take, redirects included
     * @throws ArtifactRefusedException the URI or the answer is not acceptable under the policy
     * @throws ArtifactException the request failed on the way; see {@link ArtifactException#retriable()}
     */
    public Answer exchange(String method, URI uri, Map<String, String> headers, HttpRequest.BodyPublisher body,
                           long maxResponseBytes, Duration timeout) {
        Objects.requireNonNull(uri, "uri");
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            throw refused(uri, "is not an http: or https: URI");
        }
        checkRemote(uri, uri, false);
        InMemory memory = new InMemory(maxResponseBytes);
        Hop<Long> last = send(uri, method, headers, body, memory, timeout);
        return new Answer(last.response().statusCode(), last.response().headers().firstValue("content-type").orElse(null),
                memory.bytes());
    }

    /** The final answer of a request and the URI that gave it. */
    private record Hop<T>(URI uri, HttpResponse<T> response) {
    }

    /**
     * Sends a request and follows redirects by hand for {@code GET} (each hop checked against the policy,
     * headers only to the first hop's origin), within one deadline.
     */
    private <T> Hop<T> send(URI uri, String method, Map<String, String> headers, HttpRequest.BodyPublisher body,
                            Handler<T> handler, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        boolean follow = method.equals("GET");
        URI hop = uri;
        for (int redirects = 0; ; redirects++) {
            if (redirects > 0) {
                checkRemote(uri, hop, true);
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw timedOut(uri, timeout, null);
            }
            HttpRequest request;
            try {
                HttpRequest.Builder builder = HttpRequest.newBuilder(hop).method(method, body)
                        .timeout(Duration.ofNanos(left));
                if (sameOrigin(uri, hop)) {
                    headers.forEach(builder::header);
                }
                request = builder.build();
            } catch (IllegalArgumentException e) {
                throw refused(uri, (redirects > 0 ? "redirects to " + display(hop) + ", which " : "")
                        + "is not accepted by the HTTP client: " + describe(e));
            }
            handler.reset();
            CompletableFuture<HttpResponse<T>> future = client.sendAsync(request, handler);
            HttpResponse<T> response;
            try {
                response = future.get(left, TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                handler.abort(future);
                throw timedOut(uri, timeout, e);
            } catch (InterruptedException e) {
                handler.abort(future);
                Thread.currentThread().interrupt();
                throw new ArtifactException(display(uri) + ": interrupted", false, e);
            } catch (ExecutionException e) {
                handler.abort(future);
                throw failure(uri, e.getCause(), timeout, handler.limit());
            }
            int status = response.statusCode();
            if (!follow || !(status == 301 || status == 302 || status == 303 || status == 307 || status == 308)) {
                return new Hop<>(hop, response);
            }
            Optional<String> location = response.headers().firstValue("location");
            if (location.isEmpty()) {
                throw new ArtifactException(display(uri) + ": HTTP " + status + " without a Location header", false);
            }
            if (redirects == MAX_REDIRECTS) {
                throw refused(uri, "redirects more than " + MAX_REDIRECTS + " times");
            }
            URI next;
            try {
                next = hop.resolve(new URI(location.get()));
            } catch (URISyntaxException | IllegalArgumentException e) {
                throw refused(uri, "redirects to an invalid Location: " + oneLine(location.get()));
            }
            LOG.debug("{} redirects ({}) to {}", display(hop), status, display(next));
            hop = next;
        }
    }

    /** Same scheme, host and port: where a request's credentials may go. */
    static boolean sameOrigin(URI a, URI b) {
        return a.getScheme().equalsIgnoreCase(b.getScheme()) && a.getHost() != null
                && a.getHost().equalsIgnoreCase(b.getHost()) && effectivePort(a) == effectivePort(b);
    }

    private static int effectivePort(URI uri) {
        return uri.getPort() >= 0 ? uri.getPort() : uri.getScheme().equalsIgnoreCase("https") ? 443 : 80;
    }

    /** Maps what the HTTP client or the body subscriber failed with. */
    private RuntimeException failure(URI uri, Throwable cause, Duration timeout, long limit) {
        for (Throwable t = cause; t != null; t = t.getCause()) {
            if (t instanceof TooLarge) {
                TooLarge large = (TooLarge) t;
                return large.declared
                        ? refused(uri, "declares Content-Length " + large.bytes + ", more than the limit of "
                                + limit + " bytes")
                        : refused(uri, "is larger than the limit of " + limit + " bytes");
            }
            if (t instanceof LocalWriteFailure) {
                return new ArtifactException(display(uri) + ": cannot write the download: " + describe(t.getCause()),
                        false, t.getCause());
            }
        }
        if (cause instanceof HttpConnectTimeoutException) {
            return new ArtifactException(display(uri) + ": connecting timed out after " + policy.connectTimeout(),
                    true, cause);
        }
        if (cause instanceof HttpTimeoutException) {
            return timedOut(uri, timeout, cause);
        }
        if (cause instanceof SSLException) {
            return new ArtifactException(display(uri) + ": TLS failed: " + describe(cause), false, cause);
        }
        if (cause instanceof ConnectException) {
            return new ArtifactException(display(uri) + ": cannot connect: " + describe(cause), true, cause);
        }
        if (cause instanceof IOException) {
            return new ArtifactException(display(uri) + ": transfer failed: " + describe(cause), true, cause);
        }
        if (cause instanceof IllegalArgumentException) {
            return refused(uri, "is not accepted by the HTTP client: " + describe(cause));
        }
        return new ArtifactException(display(uri) + ": fetch failed: " + describe(cause), false, cause);
    }

    private static ArtifactException timedOut(URI uri, Duration timeout, Throwable cause) {
        return new ArtifactException(display(uri) + ": timed out after " + timeout, true, cause);
    }

    private ArtifactRefusedException tooLarge(URI uri) {
        return refused(uri, "is larger than the limit of " + policy.maxBytes() + " bytes");
    }

    /**
     * How one request's answer body is taken, hop by hop: {@link #reset} before each hop, {@link #abort}
     * from the caller's thread (on timeout) so that nothing is written once the caller gives up.
     */
    private abstract static class Handler<T> implements HttpResponse.BodyHandler<T> {
        private final long maxBytes;
        private ChannelSink sink;
        private boolean aborted;

        Handler(long maxBytes) {
            this.maxBytes = maxBytes;
        }

        long limit() {
            return maxBytes;
        }

        /** Whether a body of this status is kept. */
        abstract boolean keeps(int status);

        /** Where a kept body goes. */
        abstract WritableByteChannel open() throws IOException;

        synchronized void reset() {
            sink = null;
        }

        @Override
        public synchronized HttpResponse.BodySubscriber<T> apply(HttpResponse.ResponseInfo info) {
            if (aborted || !keeps(info.statusCode())) {
                return cast(new ChannelSink(null, 0, null));
            }
            long declared = info.headers().firstValueAsLong("content-length").orElse(-1);
            if (declared > maxBytes) {
                return cast(new ChannelSink(null, 0, new TooLarge(declared, true)));
            }
            sink = new ChannelSink(this::open, maxBytes, null);
            return cast(sink);
        }

        @SuppressWarnings("unchecked")
        private HttpResponse.BodySubscriber<T> cast(ChannelSink s) {
            return (HttpResponse.BodySubscriber<T>) s;
        }

        synchronized void abort(CompletableFuture<?> future) {
            aborted = true;
            future.cancel(true);
            if (sink != null) {
                sink.stop(new CancellationException("aborted"));
            }
        }
    }

    /** A download: a 200 body is streamed into the temporary file; any other status has its body dropped unread. */
    private static final class Exchange extends Handler<Long> {
        private final Path temp;

        Exchange(Path temp, long maxBytes) {
            super(maxBytes);
            this.temp = temp;
        }

        @Override
        boolean keeps(int status) {
            return status == 200;
        }

        @Override
        WritableByteChannel open() throws IOException {
            // No CREATE: if the caller gave up and deleted the file, nothing may bring it back.
            return FileChannel.open(temp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
        }
    }

    /** An API call: the body of every status is kept in memory, up to the limit. */
    private static final class InMemory extends Handler<Long> {
        private ByteArrayOutputStream buffer = new ByteArrayOutputStream();

        InMemory(long maxBytes) {
            super(maxBytes);
        }

        @Override
        boolean keeps(int status) {
            return true;
        }

        @Override
        synchronized void reset() {
            super.reset();
            buffer = new ByteArrayOutputStream();
        }

        @Override
        synchronized WritableByteChannel open() {
            return Channels.newChannel(buffer);
        }

        synchronized byte[] bytes() {
            return buffer.toByteArray();
        }
    }

    /** Opens where a body goes, when its first bytes arrive. */
    private interface ChannelOpener {
        WritableByteChannel open() throws IOException;
    }

    /**
     * Writes a response body to a channel, failing with {@link TooLarge} past the limit. With no opener
     * it cancels the body at once and completes with -1, or with {@code failure} when one is given.
     */
    private static final class ChannelSink implements HttpResponse.BodySubscriber<Long> {
        private final ChannelOpener opener;
        private final long maxBytes;
        private final Throwable immediateFailure;
        private final CompletableFuture<Long> result = new CompletableFuture<>();
        private Flow.Subscription subscription;
        private WritableByteChannel channel;
        private long count;
        private boolean stopped;

        ChannelSink(ChannelOpener opener, long maxBytes, Throwable immediateFailure) {
            this.opener = opener;
            this.maxBytes = maxBytes;
            this.immediateFailure = immediateFailure;
        }

        @Override
        public CompletionStage<Long> getBody() {
            return result;
        }

        @Override
        public synchronized void onSubscribe(Flow.Subscription s) {
            subscription = s;
            if (stopped) {
                s.cancel();
                return;
            }
            if (opener == null) {
                stopped = true;
                s.cancel();
                if (immediateFailure != null) {
                    result.completeExceptionally(immediateFailure);
                } else {
                    result.complete(-1L);
                }
                return;
            }
            try {
                channel = opener.open();
            } catch (IOException e) {
                stop(new LocalWriteFailure(e));
                return;
            }
            s.request(1);
        }

        @Override
        public synchronized void onNext(List<ByteBuffer> items) {
            if (stopped) {
                return;
            }
            try {
                for (ByteBuffer item : items) {
                    count += item.remaining();
                    if (count > maxBytes) {
                        stop(new TooLarge(count, false));
                        return;
                    }
                    while (item.hasRemaining()) {
                        channel.write(item);
                    }
                }
            } catch (IOException e) {
                stop(new LocalWriteFailure(e));
                return;
            }
            subscription.request(1);
        }

        @Override
        public synchronized void onError(Throwable error) {
            stop(error);
        }

        @Override
        public synchronized void onComplete() {
            if (stopped) {
                return;
            }
            stopped = true;
            try {
                if (channel != null) {
                    channel.close();
                }
                result.complete(count);
            } catch (IOException e) {
                result.completeExceptionally(new LocalWriteFailure(e));
            }
        }

        synchronized void stop(Throwable why) {
            if (stopped) {
                return;
            }
            stopped = true;
            if (subscription != null) {
                subscription.cancel();
            }
            if (channel != null) {
                try {
                    channel.close();
                } catch (IOException e) {
                    // the file is deleted next
                }
            }
            result.completeExceptionally(why);
        }
    }

    /** The body passed the size limit; {@code declared}: Content-Length said so before any byte came. */
    private static final class TooLarge extends IOException {
        private static final long serialVersionUID = 1L;
        final long bytes;
        final boolean declared;

        TooLarge(long bytes, boolean declared) {
            super("body larger than the limit");
            this.bytes = bytes;
            this.declared = declared;
        }
    }

    /** Writing the body to the local file failed: the host's problem, not the server's. */
    private static final class LocalWriteFailure extends IOException {
        private static final long serialVersionUID = 1L;

        LocalWriteFailure(IOException cause) {
            super(cause);
        }
    }

    // ---------------------------------------------------------------- names and messages

    /**
     * A safe local file name from the last segment of the URI's path: only letters, digits, {@code .},
     * {@code -} and {@code _} (anything else, separators included, becomes {@code _}), no leading dot
     * (no hidden files, no {@code ..}), at most 128 characters (keeping the end, with the extension),
     * {@code artifact} when nothing is left.
     */
    static String fileName(URI uri) {
        String path = uri.getPath();
        String segment = path == null ? "" : path.substring(path.lastIndexOf('/') + 1);
        StringBuilder name = new StringBuilder(segment.length());
        segment.codePoints().forEach(c -> name.append(c < 128 && (Character.isLetterOrDigit(c) || c == '.' || c == '-'
                || c == '_') ? (char) c : '_'));
        int start = 0;
        while (start < name.length() && name.charAt(start) == '.') {
            start++;
        }
        String safe = name.substring(start);
        if (safe.length() > MAX_NAME_LENGTH) {
            safe = safe.substring(safe.length() - MAX_NAME_LENGTH);
            while (safe.startsWith(".")) {
                safe = safe.substring(1);
            }
        }
        return safe.isEmpty() ? "artifact" : safe;
    }

    private static String expectedSha256(URI uri, String given) {
        if (given == null) {
            return null;
        }
        String sha = given.trim().toLowerCase(Locale.ROOT);
        if (sha.startsWith("sha256:") || sha.startsWith("sha256-")) {
            sha = sha.substring(7);
        }
        if (!SHA256.matcher(sha).matches()) {
            throw refused(uri, "has an expected sha256 '" + oneLine(given) + "' that is not 64 hexadecimal digits");
        }
        return sha;
    }

    /**
     * The URI for messages and logs: without user information, fragment and query (pre-signed URLs carry
     * their credentials there), which is shown as {@code ?…}.
     */
    static String display(URI uri) {
        if (uri.isOpaque() || uri.getScheme() == null) {
            return oneLine(uri.getScheme() == null ? uri.toString() : uri.getScheme() + ":" + uri.getRawSchemeSpecificPart());
        }
        StringBuilder s = new StringBuilder(uri.getScheme()).append(':');
        if (uri.getRawAuthority() != null) {
            s.append("//");
            if (uri.getHost() != null) {
                s.append(uri.getHost());
                if (uri.getPort() >= 0) {
                    s.append(':').append(uri.getPort());
                }
            } else {
                String authority = uri.getRawAuthority();
                s.append(authority.substring(authority.indexOf('@') + 1));
            }
        } else if (uri.getScheme().equalsIgnoreCase("file")) {
            s.append("//");
        }
        s.append(uri.getRawPath() == null ? "" : uri.getRawPath());
        if (uri.getRawQuery() != null) {
            s.append("?…");
        }
        return oneLine(s.toString());
    }

    private static ArtifactRefusedException refused(URI uri, String reason) {
        return new ArtifactRefusedException(display(uri) + " " + reason);
    }

    private static String describe(Throwable t) {
        String message = t.getMessage();
        return oneLine(message == null || message.isBlank() ? t.getClass().getSimpleName() : message);
    }

    private static String oneLine(String s) {
        return s.replaceAll("\\s+", " ").trim();
    }
}
