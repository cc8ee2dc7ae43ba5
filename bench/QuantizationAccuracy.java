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
import io.modelrefinery.testdata.FashionMnist;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.plugin.quantize.QuantizeDynamicTransform;
import io.modelrefinery.plugin.quantize.QuantizeStaticTransform;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;

/**
 * Accuracy, size and CPU inference time of each quantization recipe on the sample model, scored on its
 * 2,000 Fashion-MNIST test images (calibration: the first 200 training images, as for the reference
 * figures of ONNX Runtime's Python tool). Inference time is the median of 15 runs over all 2,000 images
 * in one batch, measured in this JVM for every row, so rows compare as ratios.
 *
 * Run: bench/quantization.sh
 */
public class QuantizationAccuracy {
    private static final String[][] RECIPES = {
            // pipeline, ONNX Runtime tool's accuracy and zip bytes (docs/benchmarks.md, reference figures)
            {"", "95.20%", "13,251"},
            {"quantize-dynamic", "95.15%", "4,803"},
            {"quantize-dynamic(conv=skip)", "", ""},
            {"quantize-dynamic(conv=integer)", "", ""},
            {"quantize-static", "95.10%", "5,471"},
            {"quantize-static(method=percentile)", "95.05%", "5,481"},
            {"quantize-static(method=entropy)", "95.10%", "5,473"},
    };

    public static void main(String[] args) throws Exception {
        FashionMnist.Samples test = FashionMnist.binary(FashionMnist.Split.TEST, Integer.MAX_VALUE);
        Path work = Files.createTempDirectory("refinery-quantization-");
        try {
            Path calibration = FashionMnist.binary(FashionMnist.Split.TRAIN, 200).writeNpz(work.resolve("calibration.npz"));
            InferenceService inference = new OrtRuntime().service(Device.CPU, work.resolve("ort"));
            System.out.println("| pipeline | accuracy | bytes | zip bytes | inference ms (2,000 images) | ORT tool accuracy | ORT tool zip bytes |");
            System.out.println("|---|---|---|---|---|---|---|");
            for (String[] recipe : RECIPES) {
                OnnxModel model = TestModels.sampleCnn();
                if (!recipe[0].isEmpty()) {
                    model = LocalRun.of(new QuantizeDynamicTransform(), new QuantizeStaticTransform())
                            .data(new JobData(Datasets.open(calibration, "input"), null, null))
                            .run(recipe[0], model, work).output().onnxModel();
                }
                Path file = work.resolve("seed_cnn_binary.onnx");
                model.save(file, SaveOptions.inline());
                var measured = ArtifactMeasurer.measure(file, model, "seed_cnn_binary.onnx");
                double[] result = score(inference, model, test);
                System.out.printf(Locale.ROOT, "| %s | %.2f%% | %,d | %,d | %.1f | %s | %s |%n",
                        recipe[0].isEmpty() ? "fp32 (input)" : "`" + recipe[0] + "`", result[0], measured.bytes(),
                        measured.gzipBytes(), result[1], recipe[1], recipe[2]);
            }
        } finally {
            Folders.deleteQuietly(work);
        }
    }

    /** Accuracy in percent and median inference milliseconds over the whole test set. */
    private static double[] score(InferenceService inference, OnnxModel model, FashionMnist.Samples test) {
        try (InferenceSession session = inference.open(model)) {
            Map<String, io.modelrefinery.api.onnx.Tensor> feed = Map.of("input", test.images());
            double accuracy = 100 * test.accuracy(session);
            double[] millis = new double[15];
            for (int r = 0; r < millis.length; r++) {
                long start = System.nanoTime();
                session.run(feed);
                millis[r] = (System.nanoTime() - start) / 1e6;
            }
            Arrays.sort(millis);
            return new double[] {accuracy, millis[millis.length / 2]};
        }
    }
}
