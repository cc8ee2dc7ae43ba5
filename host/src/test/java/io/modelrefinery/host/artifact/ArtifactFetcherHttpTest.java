package io.modelrefinery.host.artifact;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Fetches over HTTP from a real server on the loopback interface. */
class ArtifactFetcherHttpTest {
    private static final int LIMIT = 10_000;
    private static final byte[] MODEL = "model bytes over http".getBytes(StandardCharsets.UTF_8);
    private static final Duration TIMEOUT = Duration.ofMillis(500);

    @TempDir
    Path target;

    private HttpServer server;
    private ExecutorService handlers;
    private String base;
    private ArtifactFetcher fetcher;

    @BeforeEach
    void startServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        // Daemon threads, interrupted at the end: sleeping handlers must not hold the test up.
        handlers = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "test-http");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(handlers);
        base = "http://127.0.0.1:" + server.getAddress().getPort();
        handle("/models/m.onnx", ex -> respond(ex, 200, MODEL));
        handle("/status/", ex -> respond(ex, Integer.parseInt(ex.getRequestURI().getPath().substring(8)), MODEL));
        handle("/declared-big", ex -> {
            ex.sendResponseHeaders(200, LIMIT + 1);
            ex.getResponseBody().write(new byte[100]); // the client must not wait for the rest
        });
        handle("/chunked-big", ex -> {
            ex.sendResponseHeaders(200, 0); // chunked: no length announced
            try (OutputStream out = ex.getResponseBody()) {
                for (int i = 0; i < 100; i++) {
                    out.write(new byte[1000]);
                }
            }
        });
        handle("/chunked-small", ex -> {
            ex.sendResponseHeaders(200, 0);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(new byte[LIMIT]);
            }
        });
        handle("/slow-headers", ex -> {
            sleep(5_000);
            respond(ex, 200, MODEL);
        });
        handle("/slow-body", ex -> {
            ex.sendResponseHeaders(200, 0);
            OutputStream out = ex.getResponseBody();
            out.write(new byte[100]);
            out.flush();
            sleep(5_000);
            out.close();
        });
        handle("/redirect/relative", ex -> redirect(ex, "/models/m.onnx"));
        handle("/redirect/chain/", ex -> {
            int n = Integer.parseInt(ex.getRequestURI().getPath().substring(16));
            redirect(ex, n == 0 ? "/models/m.onnx" : "/redirect/chain/" + (n - 1));
        });
        handle("/redirect/elsewhere", ex -> redirect(ex, "http://models.example.com/m.onnx"));
        handle("/redirect/file", ex -> redirect(ex, "file:///etc/passwd"));
        handle("/redirect/none", ex -> respond(ex, 302, new byte[0]));
        server.start();
        fetcher = new ArtifactFetcher(policy(Set.of("127.0.0.1"), true));
    }

    @AfterEach
    void stopServer() {
        server.stop(0);
        handlers.shutdownNow();
    }

    private static ArtifactPolicy policy(Set<String> hosts, boolean allowPrivate) {
        return new ArtifactPolicy(List.of(), hosts, LIMIT, TIMEOUT, TIMEOUT, allowPrivate);
    }

    private void handle(String path, HttpHandler handler) {
        server.createContext(path, ex -> {
            try (ex) {
                handler.handle(ex);
            } catch (IOException e) {
                // the client hung up: expected when it refuses a body
            }
        });
    }

    private static void respond(HttpExchange ex, int status, byte[] body) throws IOException {
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        if (body.length > 0) {
            ex.getResponseBody().write(body);
        }
    }

    private static void redirect(HttpExchange ex, String location) throws IOException {
        ex.getResponseHeaders().add("Location", location);
        ex.sendResponseHeaders(302, -1);
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    private URI uri(String path) {
        return URI.create(base + path);
    }

    private ArtifactRefusedException refused(URI uri) {
        ArtifactRefusedException e = assertThrows(ArtifactRefusedException.class, () -> fetcher.fetch(uri, target));
        assertOneLine(e);
        assertNoFilesLeft();
        return e;
    }

    private ArtifactException failed(URI uri) {
        ArtifactException e = assertThrows(ArtifactException.class, () -> fetcher.fetch(uri, target));
        assertOneLine(e);
        assertNoFilesLeft();
        return e;
    }

    private static void assertOneLine(Exception e) {
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    private void assertNoFilesLeft() {
        try (Stream<Path> files = Files.list(target)) {
            assertEquals(List.of(), files.toList());
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void downloadsWithStatus200() throws IOException {
        Path fetched = fetcher.fetch(uri("/models/m.onnx?version=3"), target, sha256(MODEL));

        assertEquals(target.resolve("m.onnx"), fetched);
        assertArrayEquals(MODEL, Files.readAllBytes(fetched));
        try (Stream<Path> files = Files.list(target)) {
            assertEquals(1, files.count(), "no temporary file remains");
        }
    }

    @Test
    void acceptsAChunkedBodyUpToTheLimit() throws IOException {
        assertEquals(LIMIT, Files.size(fetcher.fetch(uri("/chunked-small"), target)));
    }

    @Test
    void refusesAHostNotOnTheAllowList() {
        fetcher = new ArtifactFetcher(policy(Set.of("models.example.com"), true));

        ArtifactRefusedException e = refused(uri("/models/m.onnx"));

        assertEquals(base + "/models/m.onnx has host '127.0.0.1', not on the allowed hosts", e.getMessage());
    }

    @Test
    void refusesPrivateAddressesUnlessAllowed() {
        fetcher = new ArtifactFetcher(policy(Set.of("127.0.0.1", "localhost"), false));

        assertTrue(refused(uri("/models/m.onnx")).getMessage().contains("non-public address 127.0.0.1"));
        ArtifactRefusedException byName = refused(
                URI.create("http://localhost:" + server.getAddress().getPort() + "/models/m.onnx"));
        assertTrue(byName.getMessage().contains("has host 'localhost' resolving to the non-public address"),
                byName.getMessage());
    }

    @Test
    void refusesClientErrorsAndRetriesServerErrors() {
        assertTrue(refused(uri("/status/404")).getMessage().endsWith("/status/404 answered HTTP 404"));
        assertTrue(refused(uri("/status/403")).getMessage().contains("HTTP 403"));
        assertTrue(refused(uri("/nowhere")).getMessage().contains("HTTP 404"));

        ArtifactException unavailable = failed(uri("/status/503"));
        assertTrue(unavailable.retriable());
        assertEquals(base + "/status/503: HTTP 503", unavailable.getMessage());
        assertTrue(failed(uri("/status/500")).retriable());
        assertTrue(failed(uri("/status/429")).retriable(), "too many requests: later");
        assertFalse(failed(uri("/status/206")).retriable(), "unexpected status");
    }

    @Test
    void refusesADeclaredLengthOverTheLimitBeforeReadingTheBody() {
        ArtifactRefusedException e = refused(uri("/declared-big"));

        assertTrue(e.getMessage().contains("declares Content-Length 10001, more than the limit of 10000 bytes"),
                e.getMessage());
    }

    @Test
    void countsUndeclaredBodiesAndStopsPastTheLimit() {
        ArtifactRefusedException e = refused(uri("/chunked-big"));

        assertTrue(e.getMessage().endsWith("is larger than the limit of 10000 bytes"), e.getMessage());
    }

    @Test
    void countsABodyDelimitedByTheConnectionClosing() throws Exception {
        // No Content-Length, not chunked: the body runs until the server closes the connection.
        try (ServerSocket raw = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Thread serve = new Thread(() -> {
                try (Socket s = raw.accept()) {
                    readRequestHead(s.getInputStream());
                    OutputStream out = s.getOutputStream();
                    out.write("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    for (int i = 0; i < 100; i++) {
                        out.write(new byte[1000]);
                    }
                } catch (IOException e) {
                    // the client hung up after the limit
                }
            });
            serve.setDaemon(true);
            serve.start();

            ArtifactRefusedException e = refused(URI.create("http://127.0.0.1:" + raw.getLocalPort() + "/eof.bin"));

            assertTrue(e.getMessage().contains("larger than the limit"), e.getMessage());
        }
    }

    @Test
    void aLyingShortContentLengthCannotDeliverMore() throws Exception {
        // The server declares 100 bytes and sends far more: the client reads what was declared, no more.
        try (ServerSocket raw = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Thread serve = new Thread(() -> {
                try (Socket s = raw.accept()) {
                    readRequestHead(s.getInputStream());
                    OutputStream out = s.getOutputStream();
                    out.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    for (int i = 0; i < 100; i++) {
                        out.write(new byte[1000]);
                    }
                } catch (IOException e) {
                    // the client hung up
                }
            });
            serve.setDaemon(true);
            serve.start();

            Path fetched = fetcher.fetch(URI.create("http://127.0.0.1:" + raw.getLocalPort() + "/lie.bin"), target);

            assertEquals(100, Files.size(fetched));
        }
    }

    @Test
    void aConnectionLostMidBodyIsRetriableAndLeavesNothing() throws Exception {
        try (ServerSocket raw = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Thread serve = new Thread(() -> {
                try (Socket s = raw.accept()) {
                    readRequestHead(s.getInputStream());
                    OutputStream out = s.getOutputStream();
                    out.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    out.write(new byte[10]);
                } catch (IOException e) {
                    // the test fails on its own if this matters
                }
            });
            serve.setDaemon(true);
            serve.start();

            ArtifactException e = failed(URI.create("http://127.0.0.1:" + raw.getLocalPort() + "/cut.bin"));

            assertTrue(e.retriable(), e.getMessage());
        }
    }

    private static void readRequestHead(InputStream in) throws IOException {
        int matched = 0;
        byte[] end = {'\r', '\n', '\r', '\n'};
        for (int b; matched < 4 && (b = in.read()) >= 0; ) {
            matched = b == end[matched] ? matched + 1 : (b == '\r' ? 1 : 0);
        }
    }

    @Test
    void aServerThatDoesNotAnswerTimesOutRetriably() {
        long start = System.nanoTime();

        ArtifactException e = failed(uri("/slow-headers"));

        assertTrue(e.retriable());
        assertTrue(e.getMessage().contains("timed out"), e.getMessage());
        assertTrue(System.nanoTime() - start < 3_000_000_000L, "the timeout, not the server, ended the wait");
    }

    @Test
    void theTimeoutCoversTheWholeBody() {
        long start = System.nanoTime();

        ArtifactException e = failed(uri("/slow-body"));

        assertTrue(e.retriable());
        assertTrue(e.getMessage().contains("timed out"), e.getMessage());
        assertTrue(System.nanoTime() - start < 3_000_000_000L, "the timeout, not the server, ended the wait");
    }

    @Test
    void aRefusedConnectionIsRetriable() throws IOException {
        int port;
        try (ServerSocket closed = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = closed.getLocalPort();
        }

        ArtifactException e = failed(URI.create("http://127.0.0.1:" + port + "/m.onnx"));

        assertTrue(e.retriable());
        assertTrue(e.getMessage().startsWith("http://127.0.0.1:" + port + "/m.onnx: cannot connect"), e.getMessage());
    }

    @Test
    void followsRedirectsOnAllowedHosts() throws IOException {
        Path fetched = fetcher.fetch(uri("/redirect/relative"), target);

        assertEquals("relative", fetched.getFileName().toString(), "named after the URI asked for");
        assertArrayEquals(MODEL, Files.readAllBytes(fetched));
        assertArrayEquals(MODEL, Files.readAllBytes(fetcher.fetch(uri("/redirect/chain/4"), target)));
    }

    @Test
    void refusesMoreThanFiveRedirects() {
        assertTrue(refused(uri("/redirect/chain/5")).getMessage().contains("redirects more than 5 times"));
    }

    @Test
    void refusesARedirectToADisallowedHostOrScheme() {
        ArtifactRefusedException e = refused(uri("/redirect/elsewhere"));
        assertEquals(base + "/redirect/elsewhere redirects to http://models.example.com/m.onnx, which has host "
                + "'models.example.com', not on the allowed hosts", e.getMessage());

        assertTrue(refused(uri("/redirect/file")).getMessage().contains("is not an http: or https: URI"));
        assertFalse(failed(uri("/redirect/none")).retriable());
    }

    @Test
    void refusesADigestMismatch() {
        ArtifactRefusedException e = assertThrows(ArtifactRefusedException.class,
                () -> fetcher.fetch(uri("/models/m.onnx"), target, "f".repeat(64)));

        assertTrue(e.getMessage().contains("expected " + "f".repeat(64)), e.getMessage());
        assertNoFilesLeft();
    }

    @Test
    void refusesEveryRemoteUriWithoutAllowedHosts() {
        fetcher = new ArtifactFetcher(policy(Set.of(), true));

        assertTrue(refused(uri("/models/m.onnx")).getMessage().contains("no remote hosts are allowed"));
        assertTrue(refused(URI.create("https://user:pw@127.0.0.1/x")).getMessage().contains("no remote hosts"));
    }

    @Test
    void refusesCredentialsInTheUri() {
        ArtifactRefusedException e = refused(URI.create("http://user:pw@127.0.0.1:1/x"));

        assertTrue(e.getMessage().contains("credentials"), e.getMessage());
        assertFalse(e.getMessage().contains("pw"), e.getMessage());
    }

    @Test
    void requestHeadersGoToTheUrisOwnOriginOnlyNotToARedirectElsewhere() throws Exception {
        List<String> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        handle("/echo-auth/", ex -> {
            seen.add(String.valueOf(ex.getRequestHeaders().getFirst("Authorization")));
            respond(ex, 200, MODEL);
        });
        handle("/to-localhost", ex -> redirect(ex, "http://localhost:" + server.getAddress().getPort() + "/echo-auth/m.onnx"));
        fetcher = new ArtifactFetcher(policy(Set.of("127.0.0.1", "localhost"), true));
        java.util.Map<String, String> credentials = java.util.Map.of("Authorization", "Bearer secret");

        fetcher.fetch(uri("/echo-auth/m.onnx"), target, null, credentials);
        fetcher.fetch(uri("/to-localhost"), target.resolve("other"), null, credentials);

        assertEquals(List.of("Bearer secret", "null"), seen);
    }

    @Test
    void anExchangeKeepsErrorBodiesAndFollowsRedirectsForGetOnly() {
        ArtifactFetcher.Answer notFound = fetcher.exchange("GET", uri("/status/404"), java.util.Map.of(),
                java.net.http.HttpRequest.BodyPublishers.noBody(), LIMIT, TIMEOUT);
        ArtifactFetcher.Answer followed = fetcher.exchange("GET", uri("/redirect/relative"), java.util.Map.of(),
                java.net.http.HttpRequest.BodyPublishers.noBody(), LIMIT, TIMEOUT);
        ArtifactFetcher.Answer posted = fetcher.exchange("POST", uri("/redirect/relative"), java.util.Map.of(),
                java.net.http.HttpRequest.BodyPublishers.ofString("{}"), LIMIT, TIMEOUT);
        ArtifactRefusedException large = assertThrows(ArtifactRefusedException.class, () -> fetcher.exchange("GET",
                uri("/chunked-big"), java.util.Map.of(), java.net.http.HttpRequest.BodyPublishers.noBody(), 50, TIMEOUT));

        assertEquals(404, notFound.status());
        assertArrayEquals(MODEL, notFound.body());
        assertEquals(200, followed.status());
        assertArrayEquals(MODEL, followed.body());
        assertEquals(302, posted.status());
        assertTrue(large.getMessage().endsWith("is larger than the limit of 50 bytes"), large.getMessage());
    }

    @Test
    void privateAddressesAreReachedOnlyThroughHostsNamedForIt() {
        ArtifactFetcher named = new ArtifactFetcher(new ArtifactPolicy(List.of(), Set.of(), LIMIT, TIMEOUT, TIMEOUT, false,
                Set.of("127.0.0.1")));
        ArtifactFetcher onlyAllowed = new ArtifactFetcher(new ArtifactPolicy(List.of(), Set.of("127.0.0.1", "localhost"),
                LIMIT, TIMEOUT, TIMEOUT, false, Set.of("127.0.0.1")));

        assertArrayEquals(MODEL, read(named.fetch(uri("/models/m.onnx"), target)));
        ArtifactRefusedException e = assertThrows(ArtifactRefusedException.class, () -> onlyAllowed.fetch(
                URI.create("http://localhost:" + server.getAddress().getPort() + "/models/m.onnx"), target));
        assertTrue(e.getMessage().contains("resolving to the non-public address") && e.getMessage()
                .endsWith("(only hosts named with --allow-private-host may)"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new ArtifactPolicy(List.of(), Set.of(), LIMIT, TIMEOUT, TIMEOUT,
                false, Set.of("*.internal")));
    }

    private static byte[] read(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
