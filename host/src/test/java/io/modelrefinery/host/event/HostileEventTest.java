package io.modelrefinery.host.event;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.host.artifact.ArtifactException;
import io.modelrefinery.host.artifact.ArtifactFetcher;
import io.modelrefinery.host.artifact.ArtifactPolicy;
import io.modelrefinery.host.artifact.ArtifactRefusedException;
import io.modelrefinery.host.testing.ReliabilityReport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Generated hostile events and artifact URIs: damaged, oversized and deeply nested JSON, wrong types;
 * URIs that climb out of the artifact roots or point at private addresses (SSRF). Events are read or
 * refused as bad input; URIs outside the policy are refused before any byte is read or sent.
 */
class HostileEventTest {
    static final int CASES = Integer.getInteger("refinery.fuzz.cases", 1200) / 2;
    private static final String VALID = """
            {"specversion": "1.0", "id": "e-1", "source": "/registry", "type": "io.modelrefinery.model.registered",
             "datacontenttype": "application/json",
             "data": {"name": "seed-cnn", "version": "3", "uri": "file:///srv/models/seed.onnx", "format": "onnx",
                      "pipeline": "quantize-static(method=entropy)", "calibrationUri": "file:///srv/models/cal.npz"}}""";

    @TempDir
    Path dir;

    private static byte[] mutate(Random random) {
        byte[] bytes = VALID.getBytes(StandardCharsets.UTF_8);
        String text = VALID;
        switch (random.nextInt(6)) {
            case 0 -> {
                for (int flips = 1 + random.nextInt(6); flips > 0; flips--) {
                    bytes[random.nextInt(bytes.length)] ^= (byte) (1 << random.nextInt(8));
                }
                return bytes;
            }
            case 1 -> {
                return java.util.Arrays.copyOf(bytes, random.nextInt(bytes.length));
            }
            case 2 -> {
                int depth = 500 + random.nextInt(5000);
                return ("{\"specversion\":\"1.0\",\"type\":\"io.modelrefinery.model.registered\",\"data\":"
                        + "[".repeat(depth) + "]".repeat(depth) + "}").getBytes(StandardCharsets.UTF_8);
            }
            case 3 -> {
                return text.replace("seed-cnn", "x".repeat(random.nextBoolean() ? 2 << 20 : 5000))
                        .getBytes(StandardCharsets.UTF_8);
            }
            case 4 -> {
                String[] swaps = {"\"3\"", "3", "null", "[]", "{}", "true", "\"../../x\"", "\"\"", "1e400"};
                String[] fields = {"\"seed-cnn\"", "\"3\"", "\"file:///srv/models/seed.onnx\"", "\"onnx\"",
                        "\"quantize-static(method=entropy)\"", "\"1.0\""};
                return text.replace(fields[random.nextInt(fields.length)], swaps[random.nextInt(swaps.length)])
                        .getBytes(StandardCharsets.UTF_8);
            }
            default -> {
                String[] uris = {"file:///etc/passwd", "http://169.254.169.254/latest/meta-data", "ftp://x/y.onnx",
                        "file:///srv/models/../../etc/shadow", "jar:file:///x!/y", "http://[::1]:8080/m.onnx", "::::",
                        "file:relative.onnx", "http://user:secret@example.com/m.onnx"};
                return text.replace("file:///srv/models/seed.onnx", uris[random.nextInt(uris.length)])
                        .getBytes(StandardCharsets.UTF_8);
            }
        }
    }

    @Test
    void everyDamagedEventIsReadOrRefusedAsBadInput() {
        Random random = new Random(11);
        int read = 0;
        int refused = 0;
        List<String> escaped = new ArrayList<>();
        for (int i = 0; i < CASES; i++) {
            byte[] value = mutate(random);
            try {
                ModelRegistered registered = RegistryAdapters.toRegistered(CloudEventCodec.decode(value, Map.of()));
                assertTrue(registered.name() != null && !registered.name().isBlank());
                read++;
            } catch (InvalidInputException e) {
                refused++;
                if (e.getMessage() == null || e.getMessage().contains("\n") || e.getMessage().length() > 1000) {
                    escaped.add("case " + i + ": refusal is not one short line: "
                            + (e.getMessage() == null ? null : e.getMessage().substring(0, Math.min(200, e.getMessage().length()))));
                }
            } catch (RuntimeException | StackOverflowError e) {
                escaped.add("case " + i + ": " + e);
            }
        }
        ReliabilityReport.write("hostile-events.md", "| generated events | read | refused as bad input |\n|---|---|---|\n| "
                + CASES + " | " + read + " | " + refused + " |\n");
        assertEquals(List.of(), escaped);
        assertTrue(refused > CASES / 3, refused + " refused");
    }

    @Test
    void artifactUrisOutsideThePolicyAreRefusedBeforeAnyAccess() throws Exception {
        Path root = Files.createDirectories(dir.resolve("inbox"));
        Files.writeString(dir.resolve("secret.txt"), "TOP-SECRET-CONTENT");
        Files.writeString(root.resolve("model.onnx"), "model");
        Files.createSymbolicLink(root.resolve("link.onnx"), dir.resolve("secret.txt"));
        ArtifactFetcher fetcher = new ArtifactFetcher(new ArtifactPolicy(List.of(root), Set.of("models.example.com"),
                1 << 20, Duration.ofMillis(300), Duration.ofMillis(300)));
        String[] climbs = {"..", "%2e%2e", "%2E%2E", ".%2e", "..%2f..", "./..", "...."};
        String[] hosts = {"127.0.0.1", "localhost", "[::1]", "169.254.169.254", "10.0.0.8", "192.168.1.1", "0.0.0.0",
                "2130706433", "0x7f000001", "[::ffff:127.0.0.1]", "metadata.google.internal", "models.example.com.evil.net",
                "evilmodels.example.com", "172.16.0.1", "[fd00::1]", "100.64.0.1"};
        List<String> uris = new ArrayList<>();
        for (String climb : climbs) {
            uris.add("file://" + root + "/" + climb + "/secret.txt");
            uris.add("file://" + root + "/sub/" + climb + "/" + climb + "/secret.txt");
        }
        uris.add("file://" + root + "/link.onnx");
        uris.add("file://" + dir.resolve("secret.txt"));
        uris.add("file:///etc/passwd");
        for (String host : hosts) {
            for (String scheme : List.of("http", "https")) {
                uris.add(scheme + "://" + host + "/model.onnx");
                uris.add(scheme + "://" + host + ":8080/model.onnx?x=1");
            }
        }
        uris.add("http://models.example.com@127.0.0.1/model.onnx");
        uris.add("gopher://127.0.0.1/x");
        uris.add("jar:file://" + root + "/model.onnx!/x");
        Map<String, Integer> outcomes = new TreeMap<>();
        List<String> escaped = new ArrayList<>();
        for (String text : uris) {
            try {
                URI uri = URI.create(text);
                fetcher.fetch(uri, dir.resolve("fetched"));
                escaped.add(text + " was fetched");
            } catch (ArtifactRefusedException e) {
                outcomes.merge("refused", 1, Integer::sum);
                assertTrue(!e.getMessage().contains("TOP-SECRET-CONTENT") && !e.getMessage().contains("\n"), e.getMessage());
            } catch (IllegalArgumentException e) {
                outcomes.merge("not a URI", 1, Integer::sum);
            } catch (ArtifactException e) {
                escaped.add(text + " was attempted: " + e.getMessage());
            }
        }
        ReliabilityReport.write("hostile-uris.md", "| generated artifact URIs | refused | not a URI |\n|---|---|---|\n| "
                + uris.size() + " | " + outcomes.getOrDefault("refused", 0) + " | " + outcomes.getOrDefault("not a URI", 0)
                + " |\n");
        assertEquals(List.of(), escaped);
        assertTrue(Files.notExists(dir.resolve("fetched")) || Files.list(dir.resolve("fetched")).findAny().isEmpty());
    }
}
