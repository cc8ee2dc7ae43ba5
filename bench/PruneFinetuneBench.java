import io.modelrefinery.api.data.Batch;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.DatasetReader;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.SaveOptions;
import io.modelrefinery.api.train.Loss;
import io.modelrefinery.api.train.Optimizer;
import io.modelrefinery.api.train.Trainer;
import io.modelrefinery.api.train.TrainingGraph;
import io.modelrefinery.api.train.TrainingOptions;
import io.modelrefinery.host.eval.ArtifactMeasurer;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.LocalRun;
import io.modelrefinery.host.testing.FashionMnist;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.plugin.quantize.QuantizeDynamicTransform;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The seed article's pruning schedule on the training engine: magnitude pruning of the convolution and
 * dense kernels while fine-tuning 2 epochs on the 12,000 Fashion-MNIST training images of classes 5 and
 * 7, sparsity rising from 50% to 80% along TensorFlow Model Optimization's PolynomialDecay (power 3,
 * masks recomputed every 100 steps and at the last, applied after every optimizer step), then
 * quantize-dynamic. Scored on the 2,000 test images; sizes are one-entry zips as the seed measures them.
 * The schedule here is the hook the prune transform's finetune option uses (docs/training.md).
 *
 * Run: bench/prune-finetune.sh
 */
public class PruneFinetuneBench {
    private static final List<String> PRUNED = List.of("c1.weight", "c2.weight", "fc.weight");

    public static void main(String[] args) throws Exception {
        double initial = 0.5;
        double target = 0.8;
        int epochs = 2;
        int batchSize = 32;
        Path work = Files.createTempDirectory("refinery-prune-finetune-");
        try {
            FashionMnist.Samples test = FashionMnist.binary(FashionMnist.Split.TEST, Integer.MAX_VALUE);
            FashionMnist.Samples train = FashionMnist.binary(FashionMnist.Split.TRAIN, Integer.MAX_VALUE);
            Dataset data = Datasets.open(train.writeNpz(work.resolve("train.npz")), "input");
            InferenceService inference = new OrtRuntime().service(Device.CPU, work.resolve("ort"));
            OnnxModel dense = TestModels.sampleCnn();
            long baselineZip = zipped(work, dense);

            TrainingGraph graph = TrainingGraph.build(dense, inference.valueTypes(dense), Loss.binaryCrossEntropy(),
                    TrainingOptions.defaults());
            long stepsPerEpoch = (data.size() + batchSize - 1) / batchSize;
            long endStep = epochs * stepsPerEpoch;
            Map<String, boolean[]> masks = new HashMap<>();
            Trainer trainer = Trainer.builder(graph, inference).optimizer(Optimizer.adam(1e-3)).epochs(epochs)
                    .batchSize(batchSize).seed(1)
                    .listener(new Trainer.Listener() {
                        @Override
                        public void afterStep(Trainer.Step step, Map<String, float[]> parameters) {
                            if ((step.step() - 1) % 100 == 0 || step.step() == endStep) {
                                double progress = Math.min(1.0, (double) step.step() / endStep);
                                double sparsity = target + (initial - target) * Math.pow(1 - progress, 3);
                                for (String name : PRUNED) {
                                    masks.put(name, magnitudeMask(parameters.get(name), sparsity));
                                }
                            }
                            for (var m : masks.entrySet()) {
                                float[] w = parameters.get(m.getKey());
                                for (int i = 0; i < w.length; i++) {
                                    if (!m.getValue()[i]) {
                                        w[i] = 0f;
                                    }
                                }
                            }
                        }

                        @Override
                        public void afterEpoch(Trainer.EpochStats stats) {
                            System.out.println("  " + stats);
                        }
                    }).build();
            Trainer.Result result = trainer.fit(data);
            OnnxModel pruned = result.model();
            OnnxModel quantized = LocalRun.of(new QuantizeDynamicTransform()).run("quantize-dynamic", pruned, work)
                    .output().onnxModel();
            OnnxModel magnitudeOnly = magnitudeOnly(dense, target);

            System.out.printf(Locale.ROOT, "%ntraining: %,.0f samples/s; inference of the same model at batch %d: %,.0f samples/s%n%n",
                    result.samplesPerSecond(), batchSize, inferenceRate(inference, dense, data, batchSize));
            System.out.println("| model | accuracy | weight sparsity | zip bytes | zip ratio |");
            System.out.println("|---|---|---|---|---|");
            row(work, inference, "dense (input)", dense, test, baselineZip);
            row(work, inference, "magnitude prune 80%, no fine-tuning", magnitudeOnly, test, baselineZip);
            row(work, inference, "prune 50%→80% while fine-tuning 2 epochs", pruned, test, baselineZip);
            row(work, inference, "that, then `quantize-dynamic`", quantized, test, baselineZip);
        } finally {
            Folders.deleteQuietly(work);
        }
    }

    /** True for the weights kept: all but the {@code sparsity} share of smallest magnitudes. */
    static boolean[] magnitudeMask(float[] w, double sparsity) {
        float[] sorted = new float[w.length];
        for (int i = 0; i < w.length; i++) {
            sorted[i] = Math.abs(w[i]);
        }
        Arrays.sort(sorted);
        int drop = (int) Math.round(sparsity * w.length);
        boolean[] keep = new boolean[w.length];
        if (drop == 0) {
            Arrays.fill(keep, true);
            return keep;
        }
        float threshold = sorted[drop - 1];
        int dropped = 0;
        for (int i = 0; i < w.length; i++) {
            boolean small = Math.abs(w[i]) <= threshold && dropped < drop;
            keep[i] = !small;
            dropped += small ? 1 : 0;
        }
        return keep;
    }

    private static OnnxModel magnitudeOnly(OnnxModel dense, double sparsity) {
        Map<String, float[]> values = new HashMap<>();
        for (String name : PRUNED) {
            float[] w = dense.initializer(name).orElseThrow().toFloatArray();
            boolean[] keep = magnitudeMask(w, sparsity);
            for (int i = 0; i < w.length; i++) {
                w[i] = keep[i] ? w[i] : 0f;
            }
            values.put(name, w);
        }
        var editor = io.modelrefinery.api.onnx.GraphEditor.of(dense.graph());
        for (var e : values.entrySet()) {
            long[] shape = dense.initializer(e.getKey()).orElseThrow().shape();
            editor.putInitializer(io.modelrefinery.api.onnx.Tensor.ofFloats(shape, e.getValue()).toProto(e.getKey()));
        }
        return dense.withGraph(editor.build());
    }

    private static void row(Path work, InferenceService inference, String name, OnnxModel model,
                            FashionMnist.Samples test, long baselineZip) throws Exception {
        long zip = zipped(work, model);
        System.out.printf(Locale.ROOT, "| %s | %.2f%% | %.1f%% | %,d | %.2fx |%n", name, accuracy(inference, model, test),
                100 * sparsity(model), zip, (double) zip / baselineZip);
    }

    private static double sparsity(OnnxModel model) {
        long zeros = 0;
        long total = 0;
        for (String name : PRUNED) {
            var t = model.initializer(name);
            if (t.isEmpty()) {
                continue; // quantized models keep int8 copies under other names
            }
            for (double v : t.get().toDoubleArray()) {
                zeros += v == 0 ? 1 : 0;
                total++;
            }
        }
        if (total == 0) {
            for (var init : model.graph().getInitializerList()) {
                if (init.getName().endsWith("_W_quantized")) { // quantize-dynamic's int8 weights (zero point 0)
                    for (double v : model.tensor(init).toDoubleArray()) {
                        zeros += v == 0 ? 1 : 0;
                        total++;
                    }
                }
            }
        }
        return total == 0 ? Double.NaN : (double) zeros / total;
    }

    private static long zipped(Path work, OnnxModel model) throws Exception {
        Path file = work.resolve("seed_cnn_binary.onnx");
        model.save(file, SaveOptions.inline());
        return ArtifactMeasurer.measure(file, model, "seed_cnn_binary.onnx").gzipBytes();
    }

    private static double accuracy(InferenceService inference, OnnxModel model, FashionMnist.Samples test) {
        try (InferenceSession session = inference.open(model)) {
            float[] p = session.run(Map.of("input", test.images())).get("output").toFloatArray();
            long[] labels = test.labels().toLongArray();
            int correct = 0;
            for (int i = 0; i < labels.length; i++) {
                correct += (p[i] >= 0.5f ? 1 : 0) == labels[i] ? 1 : 0;
            }
            return 100.0 * correct / labels.length;
        }
    }

    private static double inferenceRate(InferenceService inference, OnnxModel model, Dataset data, int batch) {
        try (InferenceSession session = inference.open(model); DatasetReader reader = data.open()) {
            long samples = 0;
            long start = System.nanoTime();
            for (Optional<Batch> b = reader.next(batch); b.isPresent(); b = reader.next(batch)) {
                session.run(b.get().inputs());
                samples += b.get().size();
            }
            return samples / ((System.nanoTime() - start) / 1e9);
        }
    }
}
