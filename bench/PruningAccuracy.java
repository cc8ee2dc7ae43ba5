import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.event.ArtifactSummary;
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
import io.modelrefinery.host.testing.FashionMnist;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.plugin.prune.ClipTransform;
import io.modelrefinery.plugin.prune.PruneTransform;
import io.modelrefinery.plugin.quantize.QuantizeDynamicTransform;
import io.modelrefinery.plugin.quantize.QuantizeStaticTransform;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Accuracy and zipped size of the sample model pruned without any training, at 50, 80 and 90% sparsity,
 * by magnitude and by reconstruction, each with and without quantize-dynamic after; then N:M, channel
 * pruning and clipping. Scored on the 2,000 Fashion-MNIST test images of the two classes; calibration:
 * the first 200 training images of the two classes, as for the reference figures.
 *
 * Run: bench/pruning.sh
 */
public class PruningAccuracy {
    public static void main(String[] args) throws Exception {
        FashionMnist.Samples test = FashionMnist.binary(FashionMnist.Split.TEST, Integer.MAX_VALUE);
        Path work = Files.createTempDirectory("refinery-pruning-");
        try {
            Path calibration = FashionMnist.binary(FashionMnist.Split.TRAIN, 200).writeNpz(work.resolve("calibration.npz"));
            InferenceService inference = new OrtRuntime().service(Device.CPU, work.resolve("ort"));
            List<String> pipelines = new ArrayList<>();
            pipelines.add("");
            pipelines.add("quantize-dynamic");
            for (String sparsity : new String[] {"0.5", "0.8", "0.9"}) {
                for (String method : new String[] {"magnitude", "reconstruct"}) {
                    String prune = "prune(sparsity=" + sparsity + ",method=" + method + ")";
                    pipelines.add(prune);
                    pipelines.add(prune + ",quantize-dynamic");
                }
            }
            pipelines.add("prune(sparsity=0.8,method=magnitude,scope=global)");
            pipelines.add("prune(sparsity=0.8,method=reconstruct,scope=global)");
            pipelines.add("prune(pattern=2:4,method=magnitude)");
            pipelines.add("prune(pattern=2:4,method=reconstruct)");
            pipelines.add("prune(sparsity=0.5,pattern=channel,method=magnitude)");
            pipelines.add("prune(sparsity=0.5,pattern=channel,method=reconstruct)");
            pipelines.add("prune(sparsity=0.5,pattern=channel,method=reconstruct),quantize-dynamic");
            pipelines.add("clip(percentile=99),quantize-static");
            pipelines.add("quantize-static");

            System.out.println("| pipeline | accuracy | weight sparsity | bytes | zip bytes | prune step ms |");
            System.out.println("|---|---|---|---|---|---|");
            for (String pipeline : pipelines) {
                OnnxModel model = TestModels.sampleCnn();
                double ms = 0;
                if (!pipeline.isEmpty()) {
                    PipelineResult result = LocalRun.of(new PruneTransform(), new ClipTransform(),
                                    new QuantizeDynamicTransform(), new QuantizeStaticTransform())
                            .data(new JobData(Datasets.open(calibration, "input"), null, null))
                            .run(pipeline, model, work);
                    model = result.output().onnxModel();
                    ms = result.steps().get(0).durationMs();
                }
                Path file = work.resolve("seed_cnn_binary.onnx");
                model.save(file, SaveOptions.inline());
                ArtifactSummary measured = ArtifactMeasurer.measure(file, model, "seed_cnn_binary.onnx");
                System.out.printf(Locale.ROOT, "| %s | %.2f%% | %.3f | %,d | %,d | %s |%n",
                        pipeline.isEmpty() ? "fp32 (input)" : "`" + pipeline + "`", accuracy(inference, model, test),
                        measured.sparsity(), measured.bytes(), measured.gzipBytes(),
                        pipeline.startsWith("prune") ? String.format(Locale.ROOT, "%.0f", ms) : "");
            }
        } finally {
            Folders.deleteQuietly(work);
        }
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
}
