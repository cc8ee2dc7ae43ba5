import io.modelrefinery.api.data.Batch;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.DatasetReader;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.SaveOptions;
import io.modelrefinery.host.eval.ArtifactMeasurer;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.host.pipeline.LocalRun;
import io.modelrefinery.host.pipeline.PipelineResult;
import io.modelrefinery.testdata.FashionMnist;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.plugin.prune.PruneTransform;
import io.modelrefinery.plugin.quantize.QuantizeDynamicTransform;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The seed article's pruning schedule through the product's {@code prune} transform: magnitude pruning
 * of the convolution and dense kernels while fine-tuning 2 epochs on the 12,000 Fashion-MNIST training
 * images of classes 5 and 7 ({@code prune(sparsity=0.8,initial-sparsity=0.5,finetune=2)}: sparsity
 * rising from 50% to 80% along TensorFlow Model Optimization's PolynomialDecay, power 3, masks recomputed
 * every 100 steps and at the last, applied after every optimizer step), then quantize-dynamic. Scored on
 * the 2,000 test images; sizes are one-entry zips as the seed measures them. Beside it: training speed
 * against inference speed of the same model.
 *
 * Run: bench/prune-finetune.sh
 */
public class PruneFinetuneBench {
    private static final List<String> PRUNED = List.of("c1.weight", "c2.weight", "fc.weight");

    public static void main(String[] args) throws Exception {
        int batchSize = 32;
        Path work = Files.createTempDirectory("refinery-prune-finetune-");
        try {
            FashionMnist.Samples test = FashionMnist.binary(FashionMnist.Split.TEST, Integer.MAX_VALUE);
            FashionMnist.Samples train = FashionMnist.binary(FashionMnist.Split.TRAIN, Integer.MAX_VALUE);
            Dataset data = Datasets.open(train.writeNpz(work.resolve("train.npz")), "input");
            InferenceService inference = new OrtRuntime().service(Device.CPU, work.resolve("ort"));
            OnnxModel dense = TestModels.sampleCnn();
            long baselineZip = zipped(work, dense);

            LocalRun prune = LocalRun.of(new PruneTransform()).data(new JobData(null, null, data));
            PipelineResult finetuned = prune.run("prune(sparsity=0.8,initial-sparsity=0.5,finetune=2,batch-size="
                    + batchSize + ")", dense, work);
            Map<String, Double> metrics = finetuned.steps().get(0).metrics();
            for (int epoch = 1; epoch <= 2; epoch++) {
                System.out.printf(Locale.ROOT, "  epoch %d: loss %.4f, training accuracy %.2f%%%n", epoch,
                        metrics.get("epoch-" + epoch + "-loss"), 100 * metrics.get("epoch-" + epoch + "-accuracy"));
            }
            OnnxModel pruned = finetuned.output().onnxModel();
            OnnxModel quantized = LocalRun.of(new QuantizeDynamicTransform()).run("quantize-dynamic", pruned, work)
                    .output().onnxModel();
            OnnxModel magnitudeOnly = prune.run("prune(sparsity=0.8)", dense, work).output().onnxModel();

            System.out.printf(Locale.ROOT, "%ntraining: %,.0f samples/s; inference of the same model at batch %d: %,.0f samples/s%n%n",
                    metrics.get("train-samples-per-second"), batchSize, inferenceRate(inference, dense, data, batchSize));
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

    private static void row(Path work, InferenceService inference, String name, OnnxModel model,
                            FashionMnist.Samples test, long baselineZip) throws Exception {
        long zip = zipped(work, model);
        System.out.printf(Locale.ROOT, "| %s | %.2f%% | %.1f%% | %,d | %.2fx |%n", name, test.percentCorrect(inference, model),
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
