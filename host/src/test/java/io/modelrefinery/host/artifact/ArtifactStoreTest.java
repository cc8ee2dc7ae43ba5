package io.modelrefinery.host.artifact;

import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.SaveOptions;
import io.modelrefinery.host.eval.ArtifactMeasurer;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ArtifactStoreTest {
    private static final FileTime LONG_AGO = FileTime.fromMillis(1_000_000_000_000L);

    @TempDir
    Path dir;

    private ArtifactStore store;

    @BeforeEach
    void setUp() {
        store = new ArtifactStore(dir.resolve("store"));
    }

    private Path file(String name, String content) throws IOException {
        return Files.writeString(dir.resolve(name), content, StandardCharsets.UTF_8);
    }

    private static List<String> names(Path folder) throws IOException {
        try (Stream<Path> files = Files.list(folder)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void storesUnderTheDigest() throws IOException {
        Path source = file("out.onnx", "optimized");
        String sha = ArtifactMeasurer.sha256(source);

        StoredArtifact stored = store.put(source, "onnx");

        Path expected = dir.resolve("store/sha256/" + sha.substring(0, 2) + "/" + sha + ".onnx");
        assertEquals(new StoredArtifact(expected.toUri(), sha, 9, expected), stored);
        assertEquals("optimized", Files.readString(expected));
        assertEquals(List.of(sha + ".onnx"), names(expected.getParent()), "no temporary file remains");
        assertEquals(expected, store.find(sha, "onnx").orElseThrow());
        assertEquals(expected, store.find(sha.toUpperCase(), "onnx").orElseThrow());
        assertTrue(store.find(sha, "json").isEmpty());
        assertTrue(store.find("0".repeat(64), "onnx").isEmpty());
    }

    @Test
    void storingTheSameContentAgainWritesNothing() throws IOException {
        StoredArtifact first = store.put(file("a.onnx", "same"), "onnx");
        Files.setLastModifiedTime(first.path(), LONG_AGO);

        StoredArtifact second = store.put(file("b.onnx", "same"), "onnx");

        assertEquals(first, second);
        assertEquals(LONG_AGO, Files.getLastModifiedTime(second.path()), "write-once: the file is left untouched");
        assertEquals(List.of(first.sha256() + ".onnx"), names(first.path().getParent()));
    }

    @Test
    void differentContentGetsDifferentPaths() throws IOException {
        StoredArtifact a = store.put(file("a.onnx", "one"), "onnx");
        StoredArtifact b = store.put(file("b.onnx", "two"), "onnx");

        assertNotEquals(a.uri(), b.uri());
        assertNotEquals(a.path(), b.path());
        assertEquals("one", Files.readString(a.path()));
        assertEquals("two", Files.readString(b.path()));
    }

    @Test
    void concurrentPutsOfTheSameContentAreSafe() throws Exception {
        byte[] content = new byte[256 * 1024];
        new java.util.Random(7).nextBytes(content);
        int threads = 8;
        List<Path> sources = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            sources.add(Files.write(dir.resolve("copy-" + i + ".bin"), content));
        }
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<StoredArtifact>> results = new ArrayList<>();
            for (Path source : sources) {
                Callable<StoredArtifact> put = () -> {
                    start.await();
                    return store.put(source, "bin");
                };
                results.add(pool.submit(put));
            }
            start.countDown();
            Set<StoredArtifact> distinct = new HashSet<>();
            for (Future<StoredArtifact> result : results) {
                distinct.add(result.get());
            }

            assertEquals(1, distinct.size());
            StoredArtifact stored = distinct.iterator().next();
            assertArrayEquals(content, Files.readAllBytes(stored.path()));
            assertEquals(List.of(stored.sha256() + ".bin"), names(stored.path().getParent()), "no temporary files");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void refusesUnsafeExtensionsAndDigests() throws IOException {
        Path source = file("a.onnx", "x");
        for (String bad : List.of("", ".onnx", "../x", "a/b", "onnx.", "a..b", "x".repeat(33))) {
            assertThrows(IllegalArgumentException.class, () -> store.put(source, bad), bad);
        }
        assertThrows(IllegalArgumentException.class, () -> store.find("../../etc", "onnx"));
        assertThrows(IllegalArgumentException.class, () -> store.findModel("abc"));
    }

    @Test
    void aModelWithoutSideFileIsAnOnnxFile() throws IOException {
        Path model = dir.resolve("mlp.onnx");
        TestModels.mlp().save(model);

        StoredArtifact stored = store.putModel(model);

        assertEquals(store.put(model, "onnx"), stored);
        assertEquals(stored.path(), store.findModel(stored.sha256()).orElseThrow());
    }

    @Test
    void aModelWithExternalDataIsStoredAsAFolderThatStillLoads() throws IOException {
        Path model = Files.createDirectories(dir.resolve("out")).resolve("mlp.onnx");
        OnnxModel original = TestModels.mlp();
        original.save(model, SaveOptions.external().withThreshold(0));
        Path side = dir.resolve("out/mlp.onnx.data");
        assertTrue(Files.exists(side));

        StoredArtifact stored = store.putModel(model);

        Path folder = stored.path().getParent();
        assertEquals(dir.resolve("store/sha256/" + stored.sha256().substring(0, 2) + "/" + stored.sha256()), folder);
        assertEquals("model.onnx", stored.path().getFileName().toString());
        assertEquals(List.of("mlp.onnx.data", "model.onnx"), names(folder), "the side file keeps the name the model uses");
        assertEquals(Files.size(model) + Files.size(side), stored.bytes());
        assertEquals(List.of(stored.sha256()), names(folder.getParent()), "no temporary folder remains");
        OnnxModel loaded = OnnxModel.load(stored.path());
        assertEquals(original.initializer("w").orElseThrow(), loaded.initializer("w").orElseThrow());
        assertEquals(stored.path(), store.findModel(stored.sha256()).orElseThrow());

        // Again: nothing written.
        Files.setLastModifiedTime(stored.path(), LONG_AGO);
        assertEquals(stored, store.putModel(model));
        assertEquals(LONG_AGO, Files.getLastModifiedTime(stored.path()));
    }

    @Test
    void theAddressOfAModelWithExternalDataCoversTheWeights() throws IOException {
        Path a = Files.createDirectories(dir.resolve("a")).resolve("m.onnx");
        TestModels.mlp().save(a, SaveOptions.external().withThreshold(0));
        Path b = Files.createDirectories(dir.resolve("b")).resolve("m.onnx");
        Files.copy(a, b);
        byte[] weights = Files.readAllBytes(dir.resolve("a/m.onnx.data"));
        weights[0] ^= 1;
        Files.write(dir.resolve("b/m.onnx.data"), weights);

        StoredArtifact first = store.putModel(a);
        StoredArtifact second = store.putModel(b);

        assertEquals(ArtifactMeasurer.sha256(a), ArtifactMeasurer.sha256(b), "same .onnx file");
        assertNotEquals(first.sha256(), second.sha256());
        assertArrayEquals(weights, Files.readAllBytes(second.path().resolveSibling("m.onnx.data")));
    }

    @Test
    void removesOnlyTemporariesAbandonedLongEnoughAgo() throws IOException {
        ArtifactStore store = new ArtifactStore(dir.resolve("store"));
        Path folder = Files.createDirectories(dir.resolve("store/sha256/ab"));
        Path abandoned = Files.writeString(folder.resolve(".abc.onnx.tmp-1"), "half");
        Files.setLastModifiedTime(abandoned, java.nio.file.attribute.FileTime.from(
                java.time.Instant.now().minus(java.time.Duration.ofHours(2))));
        Path live = Files.writeString(folder.resolve(".abd.onnx.tmp-2"), "being written");
        Path stored = Files.writeString(folder.resolve("abe.onnx"), "whole");

        assertEquals(1, store.removeAbandonedTemporaries(java.time.Duration.ofMinutes(10)));

        assertFalse(Files.exists(abandoned));
        assertTrue(Files.exists(live), "a writer may still be busy with it");
        assertTrue(Files.exists(stored));
    }
}
