package io.modelrefinery.host.job;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Batch;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.DatasetReader;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.host.testing.ReliabilityReport;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.TreeMap;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Generated hostile datasets (.npz and .npy): damaged bytes, headers that lie about shape or type,
 * pickled object arrays, Fortran order, archives whose entries decompress to far more than the file
 * holds. Each is either read in bounded memory or refused as bad input; nothing else escapes.
 */
class HostileDataTest {
    static final int CASES = Integer.getInteger("refinery.fuzz.cases", 1200) / 2;
    private static final List<TensorInfo> MODEL_INPUTS = List.of(new TensorInfo("input", DataType.FLOAT, new long[] {-1, 28, 28}));

    @TempDir
    Path dir;

    private static byte[] npy(String descr, String shape, boolean fortran, byte[] data) {
        String dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape
                + ", }";
        int total = 10 + dict.length() + 1;
        int padding = (64 - total % 64) % 64;
        String header = dict + " ".repeat(padding) + "\n";
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0});
        out.write(header.length() & 0xff);
        out.write(header.length() >> 8);
        out.writeBytes(header.getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(data);
        return out.toByteArray();
    }

    private static byte[] zip(Map<String, byte[]> entries) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            zip.setMethod(ZipOutputStream.DEFLATED);
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                zip.putNextEntry(new ZipEntry(e.getKey()));
                zip.write(e.getValue());
                zip.closeEntry();
            }
        }
        return bytes.toByteArray();
    }

    private static final String[] DESCRS = {"<f4", "<f8", ">f4", "|O", "<c16", "<U8", "|b1", "<i8", "<f2", "|V4", "<M8"};
    private static final String[] SHAPES = {"(8, 28, 28)", "(9, 28, 28)", "(7, 28, 28)", "(8, 28, 27)", "(-8, 28, 28)",
            "(99999999999, 28, 28)", "(8, 784)", "()", "(8,)", "(8, 28, 28, 1)", "(8, 28, 'a')", "(0, 28, 28)"};

    /** One generated case: a file and what kind of damage it carries. */
    private record Case(String kind, Path file) {
    }

    private Case generate(int index, Random random) throws Exception {
        byte[] pixels = Tensor.fromDoubles(DataType.FLOAT, new long[] {8, 28, 28}, new double[8 * 784]).toByteArray();
        byte[] labels = Tensor.ofLongs(new long[] {8}, 0, 1, 0, 1, 0, 1, 0, 1).toByteArray();
        Path file = dir.resolve("case-" + index + (random.nextInt(4) == 0 ? ".npy" : ".npz"));
        boolean archive = file.toString().endsWith(".npz");
        String kind;
        byte[] input;
        switch (random.nextInt(5)) {
            case 0 -> {
                kind = "header lying about dtype";
                input = npy(DESCRS[random.nextInt(DESCRS.length)], "(8, 28, 28)", false, pixels);
            }
            case 1 -> {
                kind = "header lying about shape";
                input = npy("<f4", SHAPES[random.nextInt(SHAPES.length)], false, pixels);
            }
            case 2 -> {
                kind = "fortran order or bad header length";
                input = npy("<f4", "(8, 28, 28)", random.nextBoolean(), pixels);
                if (random.nextBoolean()) {
                    input[8] = (byte) random.nextInt(256);
                    input[9] = (byte) random.nextInt(256);
                }
            }
            case 3 -> {
                kind = "damaged bytes";
                input = npy("<f4", "(8, 28, 28)", false, pixels);
            }
            default -> {
                kind = "decompression bomb";
                // 4 million zero floats declared and present: 16 MB behind a few KB; or a header claiming more than there is
                long samples = random.nextBoolean() ? 5102 : 5_000_000_000L;
                input = npy("<f4", "(" + samples + ", 28, 28)", false, new byte[5102 * 784 * 4]);
                labels = null;
            }
        }
        byte[] bytes;
        if (archive) {
            Map<String, byte[]> entries = new LinkedHashMap<>();
            entries.put("input.npy", input);
            if (labels != null) {
                entries.put("labels.npy", npy("<i8", "(8,)", false, labels));
            }
            if (random.nextInt(8) == 0) {
                entries.put("../escape.npy", input);
            }
            bytes = zip(entries);
        } else {
            bytes = input;
        }
        if (kind.equals("damaged bytes")) {
            bytes = bytes.clone();
            if (random.nextBoolean()) {
                for (int flips = 1 + random.nextInt(6); flips > 0; flips--) {
                    bytes[random.nextInt(bytes.length)] ^= (byte) (1 << random.nextInt(8));
                }
            } else {
                bytes = Arrays.copyOf(bytes, random.nextInt(bytes.length));
            }
        }
        Files.write(file, bytes);
        return new Case((archive ? "npz: " : "npy: ") + kind, file);
    }

    @Test
    void everyHostileDatasetIsReadWithinBoundsOrRefused() throws Exception {
        Random random = new Random(7);
        Map<String, int[]> outcomes = new TreeMap<>();
        List<String> escaped = new ArrayList<>();
        long heapLimit = Runtime.getRuntime().maxMemory();
        for (int i = 0; i < CASES; i++) {
            Case c = generate(i, random);
            int[] counts = outcomes.computeIfAbsent(c.kind(), k -> new int[2]);
            try {
                Dataset data = Datasets.open(c.file(), "input");
                Datasets.requireFits(data, MODEL_INPUTS);
                try (DatasetReader reader = data.open()) {
                    for (int batches = 0; batches < 4; batches++) { // enough to reach a lie, bounded memory per batch
                        Optional<Batch> batch = reader.next(64);
                        if (batch.isEmpty()) {
                            break;
                        }
                    }
                }
                counts[0]++;
            } catch (InvalidInputException e) {
                counts[1]++;
                if (e.getMessage() == null || e.getMessage().contains("\n")) {
                    escaped.add(c + ": refusal is not one line: " + e.getMessage());
                }
            } catch (RuntimeException | Error e) {
                escaped.add(c + ": " + e);
            } finally {
                Files.deleteIfExists(c.file());
            }
            Runtime runtime = Runtime.getRuntime();
            assertTrue(runtime.totalMemory() - runtime.freeMemory() < heapLimit, "heap bounded");
        }
        StringBuilder summary = new StringBuilder("| damage | cases | read | refused as bad input |\n|---|---|---|---|\n");
        outcomes.forEach((kind, counts) -> summary.append("| ").append(kind).append(" | ").append(counts[0] + counts[1])
                .append(" | ").append(counts[0]).append(" | ").append(counts[1]).append(" |\n"));
        ReliabilityReport.write("hostile-datasets.md", summary.toString());
        assertEquals(List.of(), escaped);
        assertTrue(outcomes.values().stream().mapToInt(c -> c[1]).sum() > CASES / 2, "most cases are refused");
        Path good = dir.resolve("good.npz");
        Datasets.writeNpz(good, Map.of("input", TestModels.randomImages(1, 8, 28, 28)));
        Datasets.requireFits(Datasets.open(good, "input"), MODEL_INPUTS);
    }
}
