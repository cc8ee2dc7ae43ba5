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
import io.modelrefinery.testdata.FashionMnist;
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
 * the first 200 training images of the two classes, as for the reference figures. Then the inference time
 * of a few of them against the input, timed in turns.
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
            Map<String, OnnxModel> timed = new java.util.LinkedHashMap<>();
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
                        pipeline.isEmpty() ? "fp32 (input)" : "`" + pipeline + "`", test.percentCorrect(inference, model),
                        measured.sparsity(), measured.bytes(), measured.gzipBytes(),
                        pipeline.startsWith("prune") ? String.format(Locale.ROOT, "%.0f", ms) : "");
                if (TIMED.contains(pipeline)) {
                    timed.put(pipeline.isEmpty() ? "fp32 (input)" : "`" + pipeline + "`", model);
                }
            }
            latency(inference, timed, test);
        } finally {
            Folders.deleteQuietly(work);
        }
    }

    /** Pipelines whose inference time is compared. */
    private static final List<String> TIMED = List.of("", "prune(sparsity=0.8,method=reconstruct)",
            "prune(pattern=2:4,method=reconstruct)", "prune(sparsity=0.5,pattern=channel,method=reconstruct)",
            "prune(sparsity=0.5,pattern=channel,method=reconstruct),quantize-dynamic");

    /**
     * Median time of one run over all 2,000 test images in one batch, the models taking turns round after
     * round so that a busy moment of the machine hits them all alike.
     */
    private static void latency(InferenceService inference, Map<String, OnnxModel> models, FashionMnist.Samples test) {
        Map<String, io.modelrefinery.api.onnx.Tensor> feed = Map.of("input", test.images());
        List<InferenceSession> sessions = new ArrayList<>();
        try {
            for (OnnxModel model : models.values()) {
                InferenceSession session = inference.open(model);
                sessions.add(session);
                session.run(feed); // warm up
            }
            int rounds = 41;
            double[][] millis = new double[sessions.size()][rounds];
            for (int r = 0; r < rounds; r++) {
                for (int turn = 0; turn < sessions.size(); turn++) {
                    int m = (turn + r) % sessions.size(); // each model starts a round in turn
                    long start = System.nanoTime();
                    sessions.get(m).run(feed);
                    millis[m][r] = (System.nanoTime() - start) / 1e6;
                }
            }
            System.out.println();
            System.out.println("| pipeline | inference ms (2,000 images, median of " + rounds + ") | vs fp32 |");
            System.out.println("|---|---|---|");
            List<String> names = new ArrayList<>(models.keySet());
            double base = 0;
            for (int m = 0; m < names.size(); m++) {
                java.util.Arrays.sort(millis[m]);
                double median = millis[m][rounds / 2];
                base = m == 0 ? median : base;
                System.out.printf(Locale.ROOT, "| %s | %.1f | %.2fx |%n", names.get(m), median, median / base);
            }
        } finally {
            sessions.forEach(InferenceSession::close);
        }
    }
}
