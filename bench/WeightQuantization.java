import io.modelrefinery.api.data.Batch;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.DatasetReader;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.host.pipeline.LocalRun;
import io.modelrefinery.host.pipeline.PipelineResult;
import io.modelrefinery.plugin.quantize.QuantizeWeightsTransform;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Weight-only quantization (quantize-weights) of the transformer exports of bench/zoo/export_zoo.py: for each
 * model and recipe, the file size against float32, the SQNR of the output on the evaluation samples, the
 * worst layer's output SQNR on the calibration samples (the step's metric), the step's time, and the latency
 * at batch 1 against float32 (2 intra-op threads, ONNX Runtime's default optimizations, the two sessions timed
 * in alternation, order swapped every run; the ratio is the median of the per-pair ratios).
 *
 * <pre>
 * java -cp ... bench/WeightQuantization.java ZOO [MODEL-FILE[=RECIPE;RECIPE...] ...]
 * </pre>
 * where MODEL-FILE is relative to ZOO and each file's folder holds calibration.npz and eval.npz. Every recipe
 * gets the calibration samples (RTN then reports its layers' output SQNR too). Run: bench/weight-quantization.sh.
 */
public class WeightQuantization {
    private static final int THREADS = 2;
    private static final String RECIPES = "quantize-weights(bits=4);quantize-weights(bits=4,method=gptq);"
            + "quantize-weights(bits=4,method=hqq);quantize-weights(bits=4,method=gptq,compute=int8);"
            + "quantize-weights(bits=8);quantize-weights(bits=8,method=gptq)";

    public static void main(String[] args) throws Exception {
        Path zoo = Path.of(args[0]);
        int runs = Integer.getInteger("runs", 40);
        Path work = Files.createTempDirectory("refinery-weight-quantization-");
        try {
            InferenceService inference = new OrtRuntime().service(Device.CPU, work.resolve("ort"));
            System.out.println("| model | recipe | step s | bytes / fp32 | SQNR dB | worst layer dB | batch 1: q / fp32 (fp32 ms) |");
            System.out.println("|---|---|---|---|---|---|---|");
            for (int a = 1; a < args.length; a++) {
                String[] spec = args[a].split("=", 2);
                Path file = zoo.resolve(spec[0]);
                OnnxModel model = OnnxModel.load(file);
                for (String recipe : (spec.length > 1 ? spec[1] : RECIPES).split(";")) {
                    measure(inference, work, spec[0], model, recipe, file.resolveSibling("calibration.npz"),
                            file.resolveSibling("eval.npz"), runs);
                }
            }
        } finally {
            Folders.deleteQuietly(work);
        }
    }

    private static void measure(InferenceService inference, Path work, String name, OnnxModel model, String recipe,
                                Path calibration, Path eval, int runs) throws Exception {
        long start = System.nanoTime();
        PipelineResult result = LocalRun.of(new QuantizeWeightsTransform())
                .data(new JobData(Datasets.open(calibration, "input"), null, null)).run(recipe, model, work.resolve("job"));
        double seconds = (System.nanoTime() - start) / 1e9;
        OnnxModel quantized = result.output().onnxModel();
        StepRecord step = result.steps().get(result.steps().size() - 1);
        SessionOptions options = SessionOptions.defaults().withIntraOpThreads(THREADS);
        try (InferenceSession reference = inference.open(model, options);
             InferenceSession candidate = inference.open(quantized, options)) {
            double sqnr = sqnr(reference, candidate, Datasets.open(eval, "input"));
            String b1 = latency(reference, candidate, firstSamples(Datasets.open(eval, "input"), 1), runs);
            System.out.printf(Locale.ROOT, "| %s | `%s` | %.1f | %.3f | %.1f | %.1f | %s |%n", name, recipe, seconds,
                    (double) quantized.toByteArray().length / model.toByteArray().length, sqnr,
                    step.metrics().get("layer-sqnr-min-db"), b1);
        }
    }

    /** SQNR in dB of the candidate's first output against the reference's, over every evaluation sample. */
    private static double sqnr(InferenceSession reference, InferenceSession candidate, Dataset data) {
        double[] sums = new double[2];
        String ref = reference.outputs().get(0).name();
        String cand = candidate.outputs().get(0).name();
        Datasets.forEachBatch(data, 8, 0, () -> { }, (b, offset, total) -> {
            float[] e = reference.run(b.inputs(), List.of(ref)).get(ref).toFloatArray();
            float[] a = candidate.run(b.inputs(), List.of(cand)).get(cand).toFloatArray();
            for (int i = 0; i < e.length; i++) {
                sums[0] += (double) e[i] * e[i];
                sums[1] += ((double) e[i] - a[i]) * ((double) e[i] - a[i]);
            }
        });
        return 10 * Math.log10(sums[0] / Math.max(sums[1], 1e-30));
    }

    private static Map<String, Tensor> firstSamples(Dataset data, int count) {
        try (DatasetReader reader = data.open()) {
            Batch batch = reader.next(count).orElseThrow();
            return batch.inputs();
        }
    }

    /** "ratio (reference ms)": median of candidate / reference over pairs timed back to back, order alternating. */
    private static String latency(InferenceSession reference, InferenceSession candidate, Map<String, Tensor> feeds,
                                  int runs) {
        List<String> refOut = List.of(reference.outputs().get(0).name());
        List<String> candOut = List.of(candidate.outputs().get(0).name());
        for (int i = 0; i < 3; i++) {
            reference.run(feeds, refOut);
            candidate.run(feeds, candOut);
        }
        double[] ratios = new double[runs];
        double[] refMs = new double[runs];
        for (int i = 0; i < runs; i++) {
            double r;
            double c;
            if (i % 2 == 0) {
                r = time(reference, feeds, refOut);
                c = time(candidate, feeds, candOut);
            } else {
                c = time(candidate, feeds, candOut);
                r = time(reference, feeds, refOut);
            }
            ratios[i] = c / r;
            refMs[i] = r;
        }
        return String.format(Locale.ROOT, "%.2fx (%.1f)", median(ratios), median(refMs));
    }

    private static double time(InferenceSession session, Map<String, Tensor> feeds, List<String> outputs) {
        long start = System.nanoTime();
        session.run(feeds, outputs);
        return (System.nanoTime() - start) / 1e6;
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
