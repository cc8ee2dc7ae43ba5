import io.modelrefinery.api.data.Batch;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.DatasetReader;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.SaveOptions;
import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.host.eval.ArtifactMeasurer;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.host.pipeline.LocalRun;
import io.modelrefinery.host.pipeline.PipelineResult;
import io.modelrefinery.testdata.FashionMnist;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.plugin.distill.DistillTransform;
import io.modelrefinery.plugin.quantize.QuantizeDynamicTransform;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;

/**
 * The sample model distilled into narrower students through the distill plugin: trained on all 12,000
 * Fashion-MNIST training images of classes 5 and 7, scored on their 2,000 test images. Training speed
 * (samples per second through forward, backward and the optimizer step, teacher soft targets included)
 * sits beside the inference speed of the same models in the same JVM, both at batch size 32.
 *
 * Run: bench/distill.sh
 */
public class DistillBench {
    private static final String[] PIPELINES = {
            "",
            "distill(student-width=0.5)",
            "distill(student-width=0.5),quantize-dynamic",
            "distill(student-width=0.5,alpha=0)",
            "distill(student-width=0.25)",
    };

    public static void main(String[] args) throws Exception {
        Path work = Files.createTempDirectory("refinery-distill-");
        try {
            FashionMnist.Samples test = FashionMnist.binary(FashionMnist.Split.TEST, Integer.MAX_VALUE);
            FashionMnist.Samples train = FashionMnist.binary(FashionMnist.Split.TRAIN, Integer.MAX_VALUE);
            Path trainFile = train.writeNpz(work.resolve("train.npz"));
            Path testFile = test.writeNpz(work.resolve("test.npz"));
            InferenceService inference = new OrtRuntime().service(Device.CPU, work.resolve("ort"));
            System.out.printf(Locale.ROOT, "training images: %,d; test images: %,d%n%n", train.size(), test.size());
            System.out.println("| pipeline | accuracy | params | bytes | zip bytes | train s | train samples/s | inference samples/s (batch 32) |");
            System.out.println("|---|---|---|---|---|---|---|---|");
            for (String pipeline : PIPELINES) {
                OnnxModel model = TestModels.sampleCnn();
                double trainSeconds = 0;
                double trainRate = 0;
                if (!pipeline.isEmpty()) {
                    long start = System.nanoTime();
                    PipelineResult result = LocalRun.of(new DistillTransform(), new QuantizeDynamicTransform())
                            .data(new JobData(null, null, Datasets.open(trainFile, "input")))
                            .run(pipeline, model, work);
                    trainSeconds = (System.nanoTime() - start) / 1e9;
                    model = result.output().onnxModel();
                    for (StepRecord step : result.steps()) {
                        Double rate = step.metrics().get("train-samples-per-second");
                        if (rate != null) {
                            trainRate = rate;
                        }
                    }
                }
                Path file = work.resolve("seed_cnn_binary.onnx");
                model.save(file, SaveOptions.inline());
                var measured = ArtifactMeasurer.measure(file, model, "seed_cnn_binary.onnx");
                double accuracy = test.percentCorrect(inference, model);
                double inferRate = inferenceRate(inference, model, Datasets.open(trainFile, "input"));
                System.out.printf(Locale.ROOT, "| %s | %.2f%% | %,d | %,d | %,d | %s | %s | %,.0f |%n",
                        pipeline.isEmpty() ? "teacher (input)" : "`" + pipeline + "`", accuracy, model.parameterCount(),
                        measured.bytes(), measured.gzipBytes(), pipeline.isEmpty() ? "" : String.format(Locale.ROOT, "%.1f", trainSeconds),
                        trainRate == 0 ? "" : String.format(Locale.ROOT, "%,.0f", trainRate), inferRate);
            }
        } finally {
            Folders.deleteQuietly(work);
        }
    }

    /** Samples per second of plain inference over the training set in batches of 32, as training reads it. */
    private static double inferenceRate(InferenceService inference, OnnxModel model, Dataset data) {
        try (InferenceSession session = inference.open(model)) {
            long samples = 0;
            long start = System.nanoTime();
            try (DatasetReader reader = data.open()) {
                for (Optional<Batch> b = reader.next(32); b.isPresent(); b = reader.next(32)) {
                    session.run(b.get().inputs());
                    samples += b.get().size();
                }
            }
            return samples / ((System.nanoTime() - start) / 1e9);
        }
    }
}
