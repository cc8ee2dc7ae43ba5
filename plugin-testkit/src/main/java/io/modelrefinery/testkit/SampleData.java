package io.modelrefinery.testkit;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.DatasetReader;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.onnx.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;

/** Inputs and reference files for plugin tests. */
public final class SampleData {
    private SampleData() {
    }

    /** Uniform random floats in [0, 1) of the given shape, from a fixed seed. */
    public static Tensor randomImages(long seed, long... shape) {
        Random random = new Random(seed);
        long count = 1;
        for (long d : shape) {
            count *= d;
        }
        float[] values = new float[Math.toIntExact(count)];
        for (int i = 0; i < values.length; i++) {
            values[i] = random.nextFloat();
        }
        return Tensor.ofFloats(shape, values);
    }

    /** Writes {@code arrays} (their first dimension the samples) to the {@code .npz} file {@code file}, and returns it. */
    public static Path npz(Path file, Map<String, Tensor> arrays) {
        try {
            Datasets.writeNpz(file, arrays);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
        return file;
    }

    /** Every array of an {@code .npz} file whose arrays share their first dimension (a reference output file). */
    public static Map<String, Tensor> arrays(Path npz) {
        Dataset dataset = Datasets.open(npz, "array");
        try (DatasetReader reader = dataset.open()) {
            return reader.next(Math.toIntExact(dataset.size())).orElseThrow().arrays();
        }
    }
}
