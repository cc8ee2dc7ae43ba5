package io.modelrefinery.host.artifact;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.host.eval.ArtifactMeasurer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ArtifactFetcherFileTest {
    private static final byte[] CONTENT = "a small model".getBytes(StandardCharsets.UTF_8);

    @TempDir
    Path dir;

    private Path root;
    private Path outside;
    private Path target;
    private ArtifactFetcher fetcher;

    @BeforeEach
    void setUp() throws IOException {
        root = Files.createDirectories(dir.resolve("root"));
        outside = Files.createDirectories(dir.resolve("outside"));
        target = dir.resolve("target");
        Files.write(Files.createDirectories(root.resolve("models")).resolve("m.onnx"), CONTENT);
        Files.write(outside.resolve("secret.bin"), CONTENT);
        fetcher = new ArtifactFetcher(policy(List.of(root), 1000));
    }

    private static ArtifactPolicy policy(List<Path> roots, long maxBytes) {
        return new ArtifactPolicy(roots, Set.of(), maxBytes, Duration.ofSeconds(1), Duration.ofSeconds(1));
    }

    /** A file: URI written by hand, so that nothing normalizes it on the way. */
    private static URI fileUri(String absolutePath) {
        return URI.create("file://" + absolutePath);
    }

    private ArtifactRefusedException refused(URI uri) {
        ArtifactRefusedException e = assertThrows(ArtifactRefusedException.class, () -> fetcher.fetch(uri, target));
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertNoFilesLeft();
        return e;
    }

    private void assertNoFilesLeft() {
        if (Files.exists(target)) {
            try (Stream<Path> files = Files.list(target)) {
                assertEquals(List.of(), files.toList());
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        }
    }

    @Test
    void copiesAFileInsideARoot() throws IOException {
        Path fetched = fetcher.fetch(root.resolve("models/m.onnx").toUri(), target);

        assertEquals(target.resolve("m.onnx"), fetched);
        assertArrayEquals(CONTENT, Files.readAllBytes(fetched));
        try (Stream<Path> files = Files.list(target)) {
            assertEquals(1, files.count(), "no temporary file remains");
        }
    }

    @Test
    void replacesAnEarlierFetchOfTheSameName() throws IOException {
        Files.createDirectories(target);
        Files.write(target.resolve("m.onnx"), new byte[] {1, 2, 3});

        Path fetched = fetcher.fetch(root.resolve("models/m.onnx").toUri(), target);

        assertArrayEquals(CONTENT, Files.readAllBytes(fetched));
    }

    @Test
    void followsALinkThatStaysInsideTheRoots() throws IOException {
        Files.createSymbolicLink(root.resolve("latest.onnx"), root.resolve("models/m.onnx"));

        Path fetched = fetcher.fetch(root.resolve("latest.onnx").toUri(), target);

        assertEquals("latest.onnx", fetched.getFileName().toString());
        assertArrayEquals(CONTENT, Files.readAllBytes(fetched));
    }

    @Test
    void aRootMayBeASymbolicLinkAndBeNamedEitherWay() throws IOException {
        Path linkedRoot = Files.createSymbolicLink(dir.resolve("root-link"), root);
        fetcher = new ArtifactFetcher(policy(List.of(linkedRoot), 1000));

        assertArrayEquals(CONTENT, Files.readAllBytes(fetcher.fetch(linkedRoot.resolve("models/m.onnx").toUri(), target)));
        assertArrayEquals(CONTENT, Files.readAllBytes(fetcher.fetch(root.resolve("models/m.onnx").toUri(), target)));
        Files.delete(target.resolve("m.onnx"));
        assertTrue(refused(outside.resolve("secret.bin").toUri()).getMessage().contains("outside the allowed folders"));
    }

    @Test
    void refusesAFileOutsideTheRoots() {
        ArtifactRefusedException e = refused(outside.resolve("secret.bin").toUri());

        assertInstanceOf(InvalidInputException.class, e);
        assertTrue(e.getMessage().startsWith(outside.resolve("secret.bin").toUri() + " "), e.getMessage());
        assertTrue(e.getMessage().contains("outside the allowed folders"), e.getMessage());
    }

    @Test
    void refusesDotDotEvenWhenItWouldStayInside() {
        assertTrue(refused(fileUri(root + "/models/../../outside/secret.bin")).getMessage().contains("'..'"));
        assertTrue(refused(fileUri(root + "/models/../models/m.onnx")).getMessage().contains("'..'"));
        assertTrue(refused(fileUri(root + "/models/%2e%2e/%2E%2E/outside/secret.bin")).getMessage().contains("'..'"));
    }

    @Test
    void refusesSymbolicLinksThatLeaveTheRoots() throws IOException {
        Files.createSymbolicLink(root.resolve("link.bin"), outside.resolve("secret.bin"));
        Files.createSymbolicLink(root.resolve("linked-folder"), outside);

        assertTrue(refused(root.resolve("link.bin").toUri()).getMessage().contains("symbolic link"));
        assertTrue(refused(root.resolve("linked-folder/secret.bin").toUri()).getMessage().contains("symbolic link"));
    }

    @Test
    void refusesMissingFilesAndFolders() {
        assertTrue(refused(root.resolve("models/none.onnx").toUri()).getMessage().endsWith("does not exist"));
        assertTrue(refused(root.resolve("models").toUri()).getMessage().contains("not a regular file"));
        // Outside the roots nothing is looked at: no hint whether the file exists.
        assertTrue(refused(outside.resolve("none.bin").toUri()).getMessage().contains("outside the allowed folders"));
    }

    @Test
    void refusesAFileOverTheSizeLimit() throws IOException {
        Files.write(root.resolve("big.bin"), new byte[1001]);

        ArtifactRefusedException e = refused(root.resolve("big.bin").toUri());

        assertTrue(e.getMessage().contains("1001 bytes, more than the limit of 1000"), e.getMessage());
    }

    @Test
    void refusesEveryFileWithoutRoots() {
        fetcher = new ArtifactFetcher(policy(List.of(), 1000));

        assertTrue(refused(root.resolve("models/m.onnx").toUri()).getMessage().contains("no file roots"));
    }

    @Test
    void refusesOtherSchemesRelativeUrisAndRemoteFileUris() {
        assertTrue(refused(URI.create("ftp://example.com/m.onnx")).getMessage().contains("unsupported scheme 'ftp'"));
        assertTrue(refused(URI.create("jar:file:/x.jar!/m.onnx")).getMessage().contains("unsupported scheme 'jar'"));
        assertTrue(refused(URI.create("models/m.onnx")).getMessage().contains("not an absolute URI"));
        assertTrue(refused(URI.create("file://server" + root + "/models/m.onnx")).getMessage().contains("names a host"));
        assertTrue(refused(URI.create("http://example.com/m.onnx")).getMessage().contains("no remote hosts"));
    }

    @Test
    void verifiesTheDigest() throws IOException {
        URI uri = root.resolve("models/m.onnx").toUri();
        String sha = ArtifactMeasurer.sha256(root.resolve("models/m.onnx"));

        assertArrayEquals(CONTENT, Files.readAllBytes(fetcher.fetch(uri, target, sha.toUpperCase())));
        assertArrayEquals(CONTENT, Files.readAllBytes(fetcher.fetch(uri, target, "sha256:" + sha)));
        Files.delete(target.resolve("m.onnx"));

        ArtifactRefusedException e = assertThrows(ArtifactRefusedException.class,
                () -> fetcher.fetch(uri, target, "0".repeat(64)));
        assertTrue(e.getMessage().contains("has sha256 " + sha + ", expected " + "0".repeat(64)), e.getMessage());
        assertNoFilesLeft();
        assertThrows(ArtifactRefusedException.class, () -> fetcher.fetch(uri, target, "abc"));
        assertNoFilesLeft();
    }

    @Test
    void namesTheFileAfterTheLastPathSegmentMadeSafe() {
        assertEquals("m.onnx", ArtifactFetcher.fileName(URI.create("https://h/a/b/m.onnx?x=../../y")));
        assertEquals("passwd", ArtifactFetcher.fileName(URI.create("https://h/a/..%2F..%2Fetc%2Fpasswd")));
        assertEquals("a_b_c.onnx", ArtifactFetcher.fileName(URI.create("https://h/a%20b%5Cc.onnx")));
        assertEquals("hidden", ArtifactFetcher.fileName(URI.create("https://h/..hidden")));
        assertEquals("artifact", ArtifactFetcher.fileName(URI.create("https://h/")));
        assertEquals("artifact", ArtifactFetcher.fileName(URI.create("https://h")));
        assertEquals("artifact", ArtifactFetcher.fileName(URI.create("https://h/a/..")));
        assertEquals("_.onnx", ArtifactFetcher.fileName(URI.create("https://h/%C3%A9.onnx")));
        assertEquals(128, ArtifactFetcher.fileName(URI.create("https://h/" + "x".repeat(300) + ".onnx")).length());
        assertTrue(ArtifactFetcher.fileName(URI.create("https://h/" + "x".repeat(300) + ".onnx")).endsWith(".onnx"));
    }

    @Test
    void messagesHideCredentialsAndQueries() {
        assertEquals("https://h:8443/m.onnx?…",
                ArtifactFetcher.display(URI.create("https://user:secret@h:8443/m.onnx?X-Amz-Signature=abc#f")));
    }
}
