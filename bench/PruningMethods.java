import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.event.ArtifactSummary;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
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

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Pruning without training on both sample models, by every method (magnitude, reconstruct, sparsegpt) at
 * 50, 80 and 90% unstructured sparsity and 2:4: test accuracy, its change against the dense model, and
 * the zipped size. The two-class model is scored on its 2,000 test images and calibrated on the first 200
 * training images of its classes (as bench/pruning.sh); the ten-class model on the 10,000 test images,
 * calibrated on the first 4,096 training images. Then the worst layers by own output SQNR of one run.
 *
 * Run: bench/pruning-methods.sh [binary|ten]
 */
public class PruningMethods {
    public static void main(String[] args) throws Exception {
        Path work = Files.createTempDirectory("refinery-pruning-methods-");
        try {
            InferenceService inference = new OrtRuntime().service(Device.CPU, work.resolve("ort"));
            String only = args.length > 0 ? args[0] : "";
            if (!only.equals("ten")) {
                table("seed_cnn_binary.onnx (2 classes)", TestModels.sampleCnn(),
                        FashionMnist.binary(FashionMnist.Split.TEST, Integer.MAX_VALUE),
                        FashionMnist.binary(FashionMnist.Split.TRAIN, 200), inference, work);
            }
            if (!only.equals("binary")) {
                table("seed_cnn_ten.onnx (10 classes)", TestModels.tenClassCnn(),
                        FashionMnist.tenClass(FashionMnist.Split.TEST, Integer.MAX_VALUE),
                        FashionMnist.tenClass(FashionMnist.Split.TRAIN, Integer.getInteger("calibration", 4096)), inference, work);
            }
        } finally {
            Folders.deleteQuietly(work);
        }
    }

    private static void table(String title, OnnxModel dense, FashionMnist.Samples test, FashionMnist.Samples calibration,
                              InferenceService inference, Path work) throws Exception {
        JobData data = new JobData(Datasets.open(calibration.writeNpz(work.resolve("calibration.npz")), "input"),
                null, null);
        double base = test.percentCorrect(inference, dense);
        System.out.println();
        System.out.println("**" + title + "**, " + test.size() + " test images, " + calibration.size()
                + " calibration images");
        System.out.println();
        System.out.println("| pipeline | accuracy | vs dense | weight sparsity | zip bytes | prune step ms |");
        System.out.println("|---|---|---|---|---|---|");
        System.out.printf(Locale.ROOT, "| fp32 (input) | %.2f%% | | %.3f | %,d | |%n", base, 0.0, zipped(work, dense).gzipBytes());
        String notes = null;
        for (String shape : List.of("sparsity=0.5", "sparsity=0.8", "sparsity=0.9", "pattern=2:4")) {
            for (String method : List.of("magnitude", "reconstruct", "sparsegpt")) {
                String pipeline = "prune(" + shape + ",method=" + method + System.getProperty("extra", "") + ")";
                if (!pipeline.matches(System.getProperty("only", ".*"))) {
                    continue;
                }
                PipelineResult result = LocalRun.of(new PruneTransform()).data(data).run(pipeline, dense, work);
                OnnxModel model = result.output().onnxModel();
                double accuracy = test.percentCorrect(inference, model);
                ArtifactSummary measured = zipped(work, model);
                System.out.printf(Locale.ROOT, "| `%s` | %.2f%% | %+.2f | %.3f | %,d | %d |%n", pipeline, accuracy,
                        accuracy - base, measured.sparsity(), measured.gzipBytes(), result.steps().get(0).durationMs());
                if (pipeline.equals("prune(sparsity=0.8,method=sparsegpt)")) {
                    notes = String.join("; ", result.steps().get(0).notes());
                }
            }
        }
        System.out.println();
        System.out.println("`prune(sparsity=0.8,method=sparsegpt)` notes: " + notes);
    }

    private static ArtifactSummary zipped(Path work, OnnxModel model) throws Exception {
        Path file = work.resolve("model.onnx");
        model.save(file, SaveOptions.inline());
        return ArtifactMeasurer.measure(file, model, "model.onnx");
    }
}
