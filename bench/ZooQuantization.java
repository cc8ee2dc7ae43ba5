import io.modelrefinery.api.data.Batch;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.DatasetReader;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.GraphOptimizationLevel;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.host.pipeline.LocalRun;
import io.modelrefinery.host.pipeline.PipelineResult;
import io.modelrefinery.plugin.quantize.QuantizeDynamicTransform;
import io.modelrefinery.plugin.quantize.QuantizeStaticTransform;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Quantization of real architectures exported by torch (bench/zoo/export_zoo.py): for each model and recipe,
 * the calibration time against one plain float32 inference pass over the same samples, the int8 model's
 * latency against float32's at batch 1 and 32 (2 intra-op threads, ONNX Runtime's default optimizations,
 * the two sessions timed in alternation, order swapped every run; the ratio is the median of the per-pair
 * ratios), and the SQNR of its outputs on the evaluation samples.
 *
 * <pre>
 * java -cp ... bench/ZooQuantization.java ZOO [MODEL-FILE[=RECIPE;RECIPE...] ...]
 * </pre>
 * where MODEL-FILE is relative to ZOO (resnet18/resnet18-op17-dynamic.onnx) and each file's folder holds
 * calibration.npz and eval.npz. Run: bench/zoo-quantization.sh. {@code -Dlatency=false} leaves the latency columns
 * out (calibration cost and SQNR only). The plain pass is timed, warm, before and after calibration and averaged.
 */
public class ZooQuantization {
    private static final int THREADS = 2;

    public static void main(String[] args) throws Exception {
        Path zoo = Path.of(args[0]);
        int runs = Integer.getInteger("runs", 40);
        boolean ops = Boolean.getBoolean("ops");
        Path work = Files.createTempDirectory("refinery-zoo-quantization-");
        try {
            InferenceService inference = new OrtRuntime().service(Device.CPU, work.resolve("ort"));
            System.out.println("| model | recipe | calibration s | float pass s | calibration / pass | SQNR dB "
                    + "| batch 1: int8 / fp32 (fp32 ms) | batch 32: int8 / fp32 (fp32 ms) | bytes int8 / fp32 |");
            System.out.println("|---|---|---|---|---|---|---|---|---|");
            for (int a = 1; a < args.length; a++) {
                String[] spec = args[a].split("=", 2);
                Path file = zoo.resolve(spec[0]);
                List<String> recipes = List.of(spec.length > 1 ? spec[1].split(";") : new String[] {"quantize-static"});
                OnnxModel model = OnnxModel.load(file);
                Path calibration = file.resolveSibling("calibration.npz");
                Path eval = file.resolveSibling("eval.npz");
                for (String recipe : recipes) {
                    measure(inference, work, spec[0], model, recipe, calibration, eval, runs, ops);
                }
            }
        } finally {
            Folders.deleteQuietly(work);
        }
    }

    private static void measure(InferenceService inference, Path work, String name, OnnxModel model, String recipe,
                                Path calibration, Path eval, int runs, boolean ops) throws Exception {
        Dataset calibrationData = Datasets.open(calibration, "input");
        SessionOptions options = SessionOptions.defaults().withIntraOpThreads(THREADS);
        try (InferenceSession reference = inference.open(model, options)) {
            boolean fixed = fixedBatch(reference.inputs());
            boolean calibrated = recipe.startsWith("quantize-static");
            // The plain pass is timed right before and right after calibration, and averaged, so that a
            // change in the machine's load during the run weighs on both sides of the ratio alike. The session
            // makes an untimed pass first: its first runs grow its memory, which the floor is not to count.
            if (calibrated) {
                floorPass(reference, calibrationData, fixed ? 1 : 32);
            }
            double before = calibrated ? floorPass(reference, calibrationData, fixed ? 1 : 32) : Double.NaN;
            long start = System.nanoTime();
            PipelineResult result = LocalRun.of(new QuantizeStaticTransform(), new QuantizeDynamicTransform())
                    .data(new JobData(calibrationData, null, null)).run(recipe, model, work.resolve("job"));
            double stepSeconds = (System.nanoTime() - start) / 1e9;
            double pass = calibrated ? (before + floorPass(reference, calibrationData, fixed ? 1 : 32)) / 2 : Double.NaN;
            OnnxModel quantized = result.output().onnxModel();
            StepRecord step = result.steps().get(result.steps().size() - 1);
            Double calibrationMs = step.metrics().get("calibration-ms");
            if (calibrationMs == null) {
                pass = Double.NaN;
            }
            report(inference, options, reference, quantized, model, name, recipe, calibrationData, eval, runs,
                    calibrationMs, stepSeconds, pass, fixed, ops);
        }
    }

    /** Times, scores and prints one quantized model against its float reference. */
    private static void report(InferenceService inference, SessionOptions options, InferenceSession reference,
                               OnnxModel quantized, OnnxModel model, String name, String recipe,
                               Dataset calibrationData, Path eval, int runs, Double calibrationMs,
                               double stepSeconds, double pass, boolean fixed, boolean ops) throws Exception {
        try (InferenceSession candidate = inference.open(quantized, options)) {
            double sqnr = sqnr(reference, candidate, Datasets.open(eval, "input"), fixed ? 1 : 16);
            boolean timed = !"false".equals(System.getProperty("latency"));
            String b1 = timed ? latency(reference, candidate, firstSamples(Datasets.open(eval, "input"), 1), runs) : "";
            String b32 = !timed ? "" : fixed ? "(fixed batch 1)"
                    : latency(reference, candidate, firstSamples(calibrationData, 32), Math.max(6, runs / 4));
            System.out.printf(Locale.ROOT, "| %s | `%s` | %s | %s | %s | %.1f | %s | %s | %.2f |%n", name, recipe,
                    calibrationMs == null ? String.format(Locale.ROOT, "(step %.1f)", stepSeconds)
                            : String.format(Locale.ROOT, "%.2f", calibrationMs / 1000),
                    Double.isNaN(pass) ? "" : String.format(Locale.ROOT, "%.2f", pass),
                    Double.isNaN(pass) ? "" : String.format(Locale.ROOT, "%.1fx", calibrationMs / 1000 / pass),
                    sqnr, b1, b32, (double) quantized.toByteArray().length / model.toByteArray().length);
        }
        if (ops) {
            System.out.println("    int8 after ONNX Runtime's optimizations: "
                    + opCounts(inference.optimize(quantized, GraphOptimizationLevel.ALL)));
            System.out.println("    fp32 after ONNX Runtime's optimizations: "
                    + opCounts(inference.optimize(model, GraphOptimizationLevel.ALL)));
        }
    }

    private static boolean fixedBatch(List<TensorInfo> inputs) {
        return inputs.stream().anyMatch(i -> i.rank() > 0 && i.shape()[0] > 0);
    }

    /** Seconds of one plain inference pass of the float model over all calibration samples. */
    private static double floorPass(InferenceSession session, Dataset data, int batch) {
        List<String> out = List.of(session.outputs().get(0).name());
        long start = System.nanoTime();
        Datasets.forEachBatch(data, batch, 0, () -> { }, (b, offset, total) -> session.run(b.inputs(), out));
        return (System.nanoTime() - start) / 1e9;
    }

    /** SQNR in dB of the candidate's first output against the reference's, over every evaluation sample. */
    private static double sqnr(InferenceSession reference, InferenceSession candidate, Dataset data, int batch) {
        double[] sums = new double[2];
        String ref = reference.outputs().get(0).name();
        String cand = candidate.outputs().get(0).name();
        Datasets.forEachBatch(data, batch, 0, () -> { }, (b, offset, total) -> {
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
            if (batch.size() < count) {
                throw new IllegalArgumentException(data.source() + " has fewer than " + count + " samples");
            }
            return batch.inputs();
        }
    }

    /**
     * "ratio (reference ms)": the median over runs of candidate time / reference time, each pair timed back
     * to back with the order swapped every run, after warm-up runs of both.
     */
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

    private static Map<String, Integer> opCounts(OnnxModel model) {
        Map<String, Integer> counts = new TreeMap<>();
        for (NodeProto node : model.graph().getNodeList()) {
            counts.merge(node.getOpType(), 1, Integer::sum);
        }
        return counts;
    }
}
