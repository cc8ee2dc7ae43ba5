package io.modelrefinery.api.data;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DatasetsTest {
    @TempDir
    Path dir;

    private Path npz(int samples) throws IOException {
        float[] pixels = new float[samples * 2 * 3];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = i;
        }
        long[] labels = new long[samples];
        for (int i = 0; i < samples; i++) {
            labels[i] = i % 2;
        }
        Map<String, Tensor> arrays = new LinkedHashMap<>();
        arrays.put("input", Tensor.ofFloats(new long[] {samples, 2, 3}, pixels));
        arrays.put("labels", Tensor.ofLongs(new long[] {samples}, labels));
        Path file = dir.resolve("data.npz");
        Datasets.writeNpz(file, arrays);
        return file;
    }

    @Test
    void streamsBatchesInOrderUntilEmpty() throws IOException {
        Dataset dataset = Datasets.open(npz(7), "unused");

        List<Integer> sizes = new ArrayList<>();
        List<Float> firsts = new ArrayList<>();
        try (DatasetReader reader = dataset.open()) {
            for (Optional<Batch> b = reader.next(3); b.isPresent(); b = reader.next(3)) {
                sizes.add(b.get().size());
                firsts.add(b.get().get("input").toFloatArray()[0]);
                assertArrayEquals(new long[] {b.get().size(), 2, 3}, b.get().get("input").shape());
            }
        }

        assertEquals(7, dataset.size());
        assertEquals(List.of("input"), dataset.inputs().stream().map(TensorInfo::name).toList());
        assertEquals(DataType.INT64, dataset.labels().orElseThrow().type());
        assertEquals(List.of(3, 3, 1), sizes);
        assertEquals(List.of(0f, 18f, 36f), firsts);
    }

    @Test
    void onePassReadsAtMostTheAskedSamplesInBatchesAndChecksEachBatchFirst() throws IOException {
        Dataset dataset = Datasets.open(npz(7), "unused");
        List<String> seen = new ArrayList<>();
        int[] checks = {0};

        long read = Datasets.forEachBatch(dataset, 2, 5, () -> checks[0]++,
                (batch, offset, total) -> seen.add(offset + "+" + batch.size() + "/" + total));

        assertEquals(5, read);
        assertEquals(List.of("0+2/5", "2+2/5", "4+1/5"), seen);
        assertEquals(3, checks[0]);
        assertEquals(7, Datasets.forEachBatch(dataset, 4, 0, () -> { }, (b, o, t) -> { }), "0: every sample");
        assertThrows(IllegalStateException.class, () -> Datasets.forEachBatch(dataset, 2, 0,
                () -> { throw new IllegalStateException("cancelled"); }, (b, o, t) -> { }));
    }

    @Test
    void onePassRefusesNonFiniteValuesNamingTheSampleAndEmptyData() throws IOException {
        Path file = dir.resolve("nan.npz");
        Datasets.writeNpz(file, Map.of("input", Tensor.ofFloats(new long[] {3, 2}, 0, 1, 2, 3, Float.NaN, 5)));
        Dataset dataset = Datasets.open(file, "unused");

        InvalidDataException refused = assertThrows(InvalidDataException.class,
                () -> Datasets.forEachBatch(dataset, 2, 0, () -> { }, (b, o, t) -> { }));
        assertEquals("nan.npz: array 'input' holds NaN in sample 2", refused.getMessage());

        Path empty = dir.resolve("empty.npz");
        Datasets.writeNpz(empty, Map.of("input", Tensor.ofFloats(new long[] {0, 2})));
        assertEquals("empty.npz has no samples", assertThrows(InvalidDataException.class,
                () -> Datasets.forEachBatch(Datasets.open(empty, "unused"), 2, 0, () -> { }, (b, o, t) -> { }))
                .getMessage());
    }

    @Test
    void readsASingleNpyUnderTheGivenName() throws IOException {
        Path file = dir.resolve("x.npy");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Npy.write(out, Tensor.ofFloats(new long[] {2, 2}, 1, 2, 3, 4));
        Files.write(file, out.toByteArray());

        Dataset dataset = Datasets.open(file, "input");
        Batch batch = dataset.open().next(10).orElseThrow();

        assertEquals("input", dataset.arrays().get(0).name());
        assertArrayEquals(new float[] {1, 2, 3, 4}, batch.get("input").toFloatArray());
    }

    @Test
    void refusesHeadersThatLieAboutTheData() throws IOException {
        Path file = dir.resolve("lie.npy");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Npy.write(out, Tensor.ofFloats(new long[] {2, 2}, 1, 2, 3, 4));
        String text = out.toString(StandardCharsets.ISO_8859_1).replace("(2, 2)", "(9, 2)");
        Files.write(file, text.getBytes(StandardCharsets.ISO_8859_1));

        InvalidDataException e = assertThrows(InvalidDataException.class, () -> Datasets.open(file, "input"));

        assertEquals("lie.npy is 144 bytes, but its header declares FLOAT[9, 2] (200 bytes)", e.getMessage());
    }

    @Test
    void refusesFortranOrderAndNonNumericTypes() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Npy.write(out, Tensor.ofFloats(new long[] {1}, 1));
        String base = out.toString(StandardCharsets.ISO_8859_1);
        Path fortran = dir.resolve("f.npy");
        Files.write(fortran, base.replace("False", "True ").getBytes(StandardCharsets.ISO_8859_1));
        Path objects = dir.resolve("o.npy");
        Files.write(objects, base.replace("<f4", "|O8").getBytes(StandardCharsets.ISO_8859_1));

        assertTrue(assertThrows(InvalidDataException.class, () -> Datasets.open(fortran, "x")).getMessage()
                .contains("Fortran-ordered"));
        assertTrue(assertThrows(InvalidDataException.class, () -> Datasets.open(objects, "x")).getMessage()
                .contains("without a numeric 'descr'"));
    }

    @Test
    void checksThatADatasetFitsTheModel() throws IOException {
        Dataset dataset = Datasets.open(npz(4), "unused");

        assertEquals("data.npz has no array for model input 'image' (arrays: [input, labels])",
                assertThrows(InvalidDataException.class, () -> Datasets.requireFits(dataset,
                        List.of(new TensorInfo("image", DataType.FLOAT, new long[] {-1, 2, 3})))).getMessage());
        assertEquals("data.npz: array 'input' has samples of shape [2,3] but the model input is [?,28,28] "
                + "(dimension 1 is 28 in the model, 2 in the data)",
                assertThrows(InvalidDataException.class, () -> Datasets.requireFits(dataset,
                        List.of(new TensorInfo("input", DataType.FLOAT, new long[] {-1, 28, 28})))).getMessage());
        assertEquals("data.npz: array 'input' is FLOAT but the model input is FLOAT16",
                assertThrows(InvalidDataException.class, () -> Datasets.requireFits(dataset,
                        List.of(new TensorInfo("input", DataType.FLOAT16, new long[] {-1, 2, 3})))).getMessage());
        Datasets.requireFits(dataset, List.of(new TensorInfo("input", DataType.FLOAT, new long[] {-1, 2, 3})));
    }

    @Test
    void feedsAModelInTheBatchesItTakes() throws IOException {
        Dataset dataset = Datasets.open(npz(10), "unused");
        TensorInfo symbolic = new TensorInfo("input", DataType.FLOAT, new long[] {-1, 2, 3});
        TensorInfo fixedOne = new TensorInfo("input", DataType.FLOAT, new long[] {1, 2, 3});
        TensorInfo fixedFour = new TensorInfo("input", DataType.FLOAT, new long[] {4, 2, 3});

        assertEquals(32, Datasets.batchSize(List.of(symbolic), 32));
        assertEquals(1, Datasets.batchSize(List.of(fixedOne), 32), "a torch export's fixed batch of 1 is honoured");
        assertEquals(List.of(4, 4, 2), sizes(dataset, symbolic, 4));
        assertEquals(List.of(1, 1, 1, 1, 1, 1, 1, 1, 1, 1), sizes(dataset, fixedOne, 32));
        assertEquals(List.of(4, 4), sizes(dataset, fixedFour, 32), "a last batch that cannot be full is left out");
        assertEquals("data.npz has 3 samples, but the model takes batches of exactly 4",
                assertThrows(InvalidDataException.class, () -> Datasets.forEachModelBatch(dataset, List.of(fixedFour),
                        32, 3, () -> { }, (b, offset, total) -> { })).getMessage());
        assertEquals("model inputs 'input' and 'mask' fix different batch sizes (1 and 4)",
                assertThrows(InvalidDataException.class, () -> Datasets.batchSize(List.of(fixedOne,
                        new TensorInfo("mask", DataType.FLOAT, new long[] {4, 3})), 8)).getMessage());
    }

    private static List<Integer> sizes(Dataset dataset, TensorInfo input, int preferred) {
        List<Integer> sizes = new ArrayList<>();
        long read = Datasets.forEachModelBatch(dataset, List.of(input), preferred, 0, () -> { },
                (b, offset, total) -> sizes.add((int) b.get("input").dim(0)));
        assertEquals(sizes.stream().mapToInt(Integer::intValue).sum(), read);
        return sizes;
    }
}
