package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The torch exports of {@code samples/zoo} (bench/zoo/export_zoo.py --tiny) with inputs like the ones they were
 * exported with: smooth images normalised as ImageNet inputs, or Zipf-distributed token ids.
 */
final class ZooModels {
    private ZooModels() {
    }

    /** The project root, which the build passes to every test JVM. */
    private static final Path ROOT = Path.of(System.getProperty("refinery.root", "."));

    static OnnxModel load(String file) throws IOException {
        return OnnxModel.load(ROOT.resolve("samples/zoo").resolve(file));
    }

    /** {@code count} samples for every input of {@code model}, batch first. */
    static Map<String, Tensor> samples(InferenceService inference, OnnxModel model, int count, long seed) {
        List<TensorInfo> inputs;
        try (InferenceSession session = inference.open(model)) {
            inputs = session.inputs();
        }
        Map<String, Tensor> arrays = new LinkedHashMap<>();
        Random random = new Random(seed);
        for (TensorInfo input : inputs) {
            long[] shape = input.shape();
            shape[0] = count;
            if (input.type() == DataType.FLOAT) {
                arrays.put(input.name(), images(random, shape));
            } else if (input.name().contains("mask")) {
                long[] ones = new long[(int) (shape[0] * shape[1])];
                java.util.Arrays.fill(ones, 1);
                arrays.put(input.name(), Tensor.ofLongs(shape, ones));
            } else {
                arrays.put(input.name(), tokens(random, shape, 500));
            }
        }
        return arrays;
    }

    static Dataset dataset(Path dir, String name, Map<String, Tensor> arrays) throws IOException {
        Path file = dir.resolve(name + ".npz");
        Datasets.writeNpz(file, arrays);
        return Datasets.open(file, "input");
    }

    /** Low-resolution noise upsampled with a little fine noise, normalised with ImageNet's mean and deviation. */
    private static Tensor images(Random random, long[] shape) {
        int n = (int) shape[0];
        int channels = (int) shape[1];
        int size = (int) shape[2];
        int coarse = Math.max(2, size / 8);
        float[] mean = {0.485f, 0.456f, 0.406f};
        float[] std = {0.229f, 0.224f, 0.225f};
        float[] out = new float[n * channels * size * size];
        for (int s = 0; s < n; s++) {
            for (int c = 0; c < channels; c++) {
                float[] grid = new float[coarse * coarse];
                for (int i = 0; i < grid.length; i++) {
                    grid[i] = random.nextFloat();
                }
                for (int y = 0; y < size; y++) {
                    for (int x = 0; x < size; x++) {
                        float v = grid[(y * coarse / size) * coarse + x * coarse / size]
                                + 0.05f * (float) random.nextGaussian();
                        v = Math.max(0, Math.min(1, v));
                        out[((s * channels + c) * size + y) * size + x] = (v - mean[c % 3]) / std[c % 3];
                    }
                }
            }
        }
        return Tensor.ofFloats(shape, out);
    }

    /** Token ids with Zipf-like frequencies, as in text: low ids are common. */
    private static Tensor tokens(Random random, long[] shape, int vocab) {
        double[] cumulative = new double[vocab];
        double sum = 0;
        for (int r = 0; r < vocab; r++) {
            sum += 1.0 / (r + 1);
            cumulative[r] = sum;
        }
        long[] ids = new long[(int) (shape[0] * shape[1])];
        for (int i = 0; i < ids.length; i++) {
            double u = random.nextDouble() * sum;
            int id = java.util.Arrays.binarySearch(cumulative, u);
            ids[i] = Math.min(vocab - 1, id < 0 ? -id - 1 : id);
        }
        return Tensor.ofLongs(shape, ids);
    }

    /** SQNR in dB of {@code candidate}'s first output against {@code reference}'s, on {@code feeds}, in the batches they take. */
    static double sqnr(InferenceService inference, OnnxModel reference, OnnxModel candidate, Dataset data) {
        double[] sums = new double[2];
        try (InferenceSession a = inference.open(reference); InferenceSession b = inference.open(candidate)) {
            String out = a.outputs().get(0).name();
            Datasets.forEachModelBatch(data, a.inputs(), 16, 0, () -> { }, (batch, offset, total) -> {
                float[] e = a.run(batch.inputs(), List.of(out)).get(out).toFloatArray();
                float[] x = b.run(batch.inputs(), List.of(out)).get(out).toFloatArray();
                for (int i = 0; i < e.length; i++) {
                    sums[0] += (double) e[i] * e[i];
                    sums[1] += ((double) e[i] - x[i]) * ((double) e[i] - x[i]);
                }
            });
        }
        return 10 * Math.log10(sums[0] / Math.max(sums[1], 1e-30));
    }
}
