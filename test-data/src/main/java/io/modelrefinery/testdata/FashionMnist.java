package io.modelrefinery.testdata;

import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import org.junit.jupiter.api.Assumptions;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/**
 * The sample models' tasks on real data, from Debian's {@code dataset-fashion-mnist} package, pixels scaled
 * to 0..1 as the models expect: {@link #binary} gives the images of class 5 (Sandal, label 0) and class 7
 * (Sneaker, label 1) the binary sample CNN tells apart, {@link #tenClass} all ten classes for its ten-class
 * twin. CI installs the package (.ci/run) and sets {@code REFINERY_REQUIRE_DATASETS=1}, so
 * that a missing dataset fails there instead of skipping the tests that need it.
 */
public final class FashionMnist {
    /** Where the Debian package puts the IDX files. */
    public static final Path FOLDER = Path.of(System.getProperty("refinery.fashion.mnist",
            "/usr/share/datasets/fashion-mnist"));
    private static final int SANDAL = 5;
    private static final int SNEAKER = 7;

    /** Which part of the dataset. */
    public enum Split { TRAIN, TEST }

    /**
     * Images and their labels.
     *
     * @param images {@code [n, 28, 28]} floats in 0..1
     * @param labels {@code [n]} int64: 0 for Sandal and 1 for Sneaker ({@link #binary}), or the dataset's own
     *     class numbers 0..9 ({@link #tenClass})
     */
    public record Samples(Tensor images, Tensor labels) {
        public int size() {
            return (int) labels.elementCount();
        }

        /** The samples as an .npz dataset: arrays {@code input} and {@code labels}. */
        public Path writeNpz(Path file) {
            Map<String, Tensor> arrays = new LinkedHashMap<>();
            arrays.put("input", images);
            arrays.put("labels", labels);
            try {
                Datasets.writeNpz(file, arrays);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return file;
        }

        /**
         * Share of the samples {@code model} classifies right, computed directly: one ONNX Runtime run of
         * input {@code input} over all images. An output {@code output} of one column (the sigmoid's
         * probability) at least 0.5 means label 1; of several columns (the ten-class model), the arg max is
         * the label.
         */
        public double accuracy(InferenceService inference, OnnxModel model) {
            try (InferenceSession session = inference.open(model)) {
                return accuracy(session);
            }
        }

        /** {@link #accuracy(InferenceService, OnnxModel)} on an open session of the model. */
        public double accuracy(InferenceSession session) {
            return (double) correct(session) / size();
        }

        /** The same accuracy in percent: {@code 100 * correct / samples}. */
        public double percentCorrect(InferenceService inference, OnnxModel model) {
            try (InferenceSession session = inference.open(model)) {
                return 100.0 * correct(session) / size();
            }
        }

        private int correct(InferenceSession session) {
            Tensor output = session.run(Map.of("input", images)).get("output");
            float[] p = output.toFloatArray();
            long[] truth = labels.toLongArray();
            int classes = p.length / truth.length;
            int correct = 0;
            for (int i = 0; i < truth.length; i++) {
                int predicted = 0;
                if (classes == 1) {
                    predicted = p[i] >= 0.5f ? 1 : 0;
                } else {
                    for (int c = 1; c < classes; c++) {
                        predicted = p[i * classes + c] > p[i * classes + predicted] ? c : predicted;
                    }
                }
                correct += predicted == truth[i] ? 1 : 0;
            }
            return correct;
        }
    }

    private FashionMnist() {
    }

    public static boolean available() {
        return Files.isRegularFile(FOLDER.resolve("t10k-images-idx3-ubyte.gz"));
    }

    /** Skips the calling test when the dataset is missing, unless the build requires it (CI). */
    public static void assumeAvailable() {
        if ("1".equals(System.getenv("REFINERY_REQUIRE_DATASETS")) && !available()) {
            throw new AssertionError("Fashion-MNIST is required but missing from " + FOLDER
                    + " (apt-get install dataset-fashion-mnist)");
        }
        Assumptions.assumeTrue(available(), "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)");
    }

    /**
     * The first {@code limit} images of a split, all ten classes, in file order: labels 0..9 as the dataset
     * numbers them (the ten-class sample model's task).
     */
    public static Samples tenClass(Split split, int limit) {
        byte[] labels = labels(split);
        byte[] pixels = pixels(split);
        int count = Math.min(limit, labels.length);
        float[] images = new float[count * 784];
        long[] classes = new long[count];
        for (int n = 0; n < count; n++) {
            for (int p = 0; p < 784; p++) {
                images[n * 784 + p] = (pixels[n * 784 + p] & 0xff) / 255f;
            }
            classes[n] = labels[n];
        }
        return new Samples(Tensor.ofFloats(new long[] {count, 28, 28}, images), Tensor.ofLongs(new long[] {count}, classes));
    }

    private static byte[] labels(Split split) {
        return read(FOLDER.resolve((split == Split.TRAIN ? "train" : "t10k") + "-labels-idx1-ubyte.gz"), 2049);
    }

    private static byte[] pixels(Split split) {
        return read(FOLDER.resolve((split == Split.TRAIN ? "train" : "t10k") + "-images-idx3-ubyte.gz"), 2051);
    }

    /** The first {@code limit} Sandal and Sneaker images of a split, in file order. */
    public static Samples binary(Split split, int limit) {
        byte[] labels = labels(split);
        byte[] pixels = pixels(split);
        int count = 0;
        for (int i = 0; i < labels.length && count < limit; i++) {
            if (labels[i] == SANDAL || labels[i] == SNEAKER) {
                count++;
            }
        }
        float[] images = new float[count * 784];
        long[] classes = new long[count];
        int n = 0;
        for (int i = 0; i < labels.length && n < count; i++) {
            if (labels[i] == SANDAL || labels[i] == SNEAKER) {
                for (int p = 0; p < 784; p++) {
                    images[n * 784 + p] = (pixels[i * 784 + p] & 0xff) / 255f;
                }
                classes[n] = labels[i] == SNEAKER ? 1 : 0;
                n++;
            }
        }
        return new Samples(Tensor.ofFloats(new long[] {count, 28, 28}, images), Tensor.ofLongs(new long[] {count}, classes));
    }

    /** The data of an IDX file after its header (magic, dimension sizes). */
    private static byte[] read(Path file, int magic) {
        try (InputStream raw = Files.newInputStream(file);
             DataInputStream in = new DataInputStream(new GZIPInputStream(raw, 1 << 16))) {
            int found = in.readInt();
            if (found != magic) {
                throw new IllegalStateException(file + " is not an IDX file of the expected kind (magic " + found + ")");
            }
            int dimensions = magic & 0xff;
            long size = 1;
            for (int d = 0; d < dimensions; d++) {
                size *= in.readInt();
            }
            return in.readNBytes((int) size);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }
}
