package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.data.InvalidDataException;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.NodeHandle;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.Progress;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Finds the value range of chosen tensors over calibration samples in one pass, reducing inside the graph as
 * ONNX Runtime's calibrators do: a copy of the model gets ReduceMin and ReduceMax nodes on each calibrated
 * tensor, right after the node that writes it, so that a batch returns two numbers per tensor, not the tensor;
 * a tensor that is never negative (a ReLU's) gets its maximum only. The histogram methods also get each
 * tensor's values as signed bin indices over the batch's own absolute range (Mul, Cast to 16 bits), counted in
 * Java by absolute value where ONNX Runtime wrote them (the session lends its output buffers) and merged into a
 * histogram per tensor. A large image-shaped tensor is sampled first, keeping at least {@value #SAMPLED_VALUES}
 * values of each sample, and its minimum and maximum are the sample's (a second copy of the whole tensor for
 * its reductions cost more than they were worth; the chosen range is clipped to what the histogram saw): for the
 * percentile every second to fourth pixel in each direction, since a quantile of millions of values moves little
 * with a sample of them (MobileNetV2's SQNR the same to 0.1 dB); for entropy every second pixel at most, since
 * its threshold falls with the number of values counted, the tail's bins emptying (MobileNetV2 at the
 * percentile's strides: 30.4 dB against 32.6 dB counting every value; every second pixel: 32.7 dB).
 * Memory depends on the batch, never on the number of samples. The model is fed in the batches it takes: its
 * fixed batch size, or {@code batch-size} samples when it is symbolic.
 */
final class Calibrator {
    /**
     * Budget for one batch of the calibrated tensors as floats, whatever the method; the batch shrinks to fit
     * large activations. A larger batch calibrates slower, not faster: ONNX Runtime grows its arena on the first
     * run and the tensors leave the caches (ResNet-50, 50 MB of calibrated activations a sample: 11 s at 32
     * samples a batch, 6.1 s at 8, against a plain pass of 5.1 s at either). The histogram methods once counted
     * their 16-bit bin indices against it and ran twice the batch: the percentile's took 1.1x (MobileNetV2) to
     * 1.3x (EfficientNet-B0) as long as at the floats' batch, entropy's 1.1x and about the same.
     */
    private static final long BATCH_BYTES = 256L << 20;

    /**
     * The fewest values of one sample that a sampled tensor keeps for its histogram, as many as the
     * smaller tensors of an image model hold whole (MobileNetV2's last blocks: 7 x 7 x 320). A tail that falls
     * off fast moves its quantile little with the count in it (|Gaussian|'s 99.999th percentile, eight draws:
     * 1.2% standard deviation from 3.2 million values, 32 past it, against 0.2% from 50 million). The strided sample runs as a MaxPool with a 1 x 1 kernel on the blocked
     * layout the convolutions write, so that only the sample is copied out of it, scaled, cast and counted
     * (MobileNetV2, batch 19: 170 ms a run with every value, 123 ms sampled, 77 ms plain; a stride of at most 2,
     * 129 ms).
     */
    static final long SAMPLED_VALUES = 1 << 14;

    /**
     * The widest stride of the percentile's sample: wider ones gain little, the MaxPool reads every pixel's cache
     * line.
     */
    static final int PERCENTILE_STRIDE = 4;

    /**
     * The widest stride of entropy's sample, a quarter of the pixels: on the six CNNs of docs/benchmarks.md the
     * SQNR within 0.2 dB of every value counted, with 16, 32 and 128 calibration samples, and the calibration 1.1x
     * (ResNet-18) to 1.9x (MobileNetV2) faster.
     */
    static final int ENTROPY_STRIDE = 2;

    /**
     * How to calibrate.
     *
     * @param method how ranges are chosen
     * @param percentile for {@link CalibrationMethod#PERCENTILE}
     * @param bins histogram bins
     * @param batchSize samples per run, at most (a model with a fixed batch takes that)
     * @param maxSamples stop after this many samples; 0 for all
     */
    record Settings(CalibrationMethod method, double percentile, int bins, int batchSize, long maxSamples) {
    }

    private final InferenceService inference;
    private final Dataset data;
    private final Settings settings;
    private final Progress progress;
    private final Cancellation cancellation;
    private long samples;

    Calibrator(InferenceService inference, Dataset data, Settings settings, Progress progress, Cancellation cancellation) {
        this.inference = inference;
        this.data = data;
        this.settings = settings;
        this.progress = progress;
        this.cancellation = cancellation;
    }

    /** The graph outputs that carry one tensor's statistics; no minimum for a tensor never negative. */
    record Outputs(String min, String max, String bins) {
    }

    /**
     * A copy of the model that also writes the statistics of each calibrated tensor.
     *
     * @param model the model
     * @param outputs the graph outputs of each tensor's statistics
     */
    record Augmented(OnnxModel model, Map<String, Outputs> outputs) {
    }

    /**
     * The model with the statistics nodes of {@code tensors}, each right after the node that writes its tensor.
     *
     * @param types the model's value types, for the tensors' ranks
     */
    Augmented augment(OnnxModel model, Set<String> tensors, Map<String, TensorInfo> types) {
        boolean histograms = settings.method() != CalibrationMethod.MIN_MAX;
        GraphEditor editor = GraphEditor.of(model.graph());
        String binCount = editor.freshName("calibration_bins");
        String tiny = editor.freshName("calibration_tiny");
        editor.putInitializer(Tensor.ofFloats(new long[0], settings.bins()).toProto(binCount));
        editor.putInitializer(Tensor.ofFloats(new long[0], Float.MIN_NORMAL).toProto(tiny));
        NonNegativeTensors nonNegative = new NonNegativeTensors(model);
        Map<String, Outputs> outputs = new LinkedHashMap<>();
        for (String tensor : tensors) {
            TensorInfo info = types.get(tensor);
            List<NodeProto> nodes = new ArrayList<>();
            outputs.put(tensor, addStatistics(editor, nodes, tensor, nonNegative.contains(tensor),
                    info != null && info.rank() == 4, histograms ? binCount : null,
                    sampleStride(info, widestStride()), tiny));
            placeAfterProducer(editor, tensor, nodes);
        }
        return new Augmented(model.withGraph(editor.build()), outputs);
    }

    /**
     * The range of each of {@code tensors} (float values of {@code model}) over the samples.
     *
     * @param types the model's value types, for sizing batches
     * @throws InvalidDataException if the samples do not fit the model, are empty, or hold NaN or infinity
     */
    Map<String, TensorRange> calibrate(OnnxModel model, Set<String> tensors, Map<String, TensorInfo> types) {
        boolean histograms = settings.method() != CalibrationMethod.MIN_MAX;
        Augmented augmented = augment(model, tensors, types);
        Map<String, Outputs> outputs = augmented.outputs();
        Map<String, double[]> minMax = new LinkedHashMap<>();
        Map<String, Histogram> counts = new LinkedHashMap<>();
        for (String tensor : tensors) {
            minMax.put(tensor, new double[] {Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY});
            if (histograms) {
                counts.put(tensor, new Histogram(settings.bins()));
            }
        }
        // The histogram methods count each batch in Java between runs, on cores ONNX Runtime's idle threads would
        // spin on.
        SessionOptions options = SessionOptions.defaults().withSpinning(!histograms);
        // A list, not the map's entries: those split into batches of 1,024 before any parallel work.
        List<Map.Entry<String, Outputs>> statistics = List.copyOf(outputs.entrySet());
        try (InferenceSession session = inference.open(augmented.model(), options)) {
            Datasets.requireFits(data, session.inputs());
            List<String> inputs = session.inputs().stream().map(TensorInfo::name).toList();
            List<String> fetched = new ArrayList<>();
            outputs.values().forEach(o -> {
                if (o.min() != null) {
                    fetched.add(o.min());
                }
                fetched.add(o.max());
                if (o.bins() != null) {
                    fetched.add(o.bins());
                }
            });
            int batch = batchSize(tensors, types);
            samples = Datasets.forEachModelBatch(data, session.inputs(), batch, settings.maxSamples(),
                    cancellation::throwIfCancelled, (b, offset, total) -> {
                        Map<String, Tensor> feeds = new LinkedHashMap<>();
                        for (String input : inputs) {
                            feeds.put(input, b.get(input));
                        }
                        // Read where ONNX Runtime wrote them: the bin indices of a batch are read once, and
                        // copying them out took a third of the run (MobileNetV2, batch 9: 137 ms a run and its
                        // copy, 93 ms lent).
                        session.run(feeds, fetched, results -> {
                            // Each tensor's statistics are its own: histograms counted on both cores, ONNX Runtime's
                            // threads asleep meanwhile (spinning, they made the counting 1.5x to 2x slower than on
                            // one core); min-max's two numbers a tensor are not worth a fork, beside spinning threads.
                            (histograms ? statistics.parallelStream() : statistics.stream()).forEach(entry -> {
                                String tensor = entry.getKey();
                                Outputs o = entry.getValue();
                                double min = o.min() == null ? 0 : results.get(o.min()).getDouble(0);
                                double max = results.get(o.max()).getDouble(0);
                                double[] mm = minMax.get(tensor);
                                mm[0] = Math.min(mm[0], min);
                                mm[1] = Math.max(mm[1], max);
                                if (o.bins() != null) {
                                    counts.get(tensor).add(count(results.get(o.bins()), settings.bins()),
                                            Math.max(-min, max));
                                }
                            });
                            return null;
                        });
                        progress.update(offset + b.size(), total, "calibrating");
                    });
        }
        // The threshold searches are independent and cost some 300 divergences each: one per core.
        List<TensorRange> chosen = List.copyOf(minMax.entrySet()).parallelStream()
                .map(e -> histograms ? clipped(counts.get(e.getKey()), e.getValue())
                        : new TensorRange(e.getValue()[0], e.getValue()[1]))
                .toList();
        Map<String, TensorRange> ranges = new LinkedHashMap<>();
        int i = 0;
        for (String tensor : minMax.keySet()) {
            ranges.put(tensor, chosen.get(i++));
        }
        return ranges;
    }

    /**
     * ReduceMin and ReduceMax of {@code tensor} (all axes, scalars out) and, for the histogram methods, its
     * values as signed bin indices over the batch's own
     * absolute range: {@code Cast(x * bins / max|x|)}, whose absolute value is {@code Cast(|x| * bins / max|x|)}
     * (the cast truncates towards zero) without an Abs over every element.
     *
     * <p>A tensor that is never negative gets its maximum only, and an image-shaped one through a GlobalMaxPool
     * first: ONNX Runtime runs that on the blocked layout its convolutions write, where a ReduceMax needs a copy
     * of the whole tensor in the plain layout (measured on MobileNetV2, the copies took longer than the
     * reductions).
     *
     * <p>Where a histogram method counts a strided sample of an image ({@code stride > 1}), the minimum and
     * maximum are the sample's too: the sample is copied out of the blocked layout for its bins anyway, and
     * reducing the whole tensor copied all of it a second time (steady runs at batch 32: EfficientNet-B0's
     * calibration graph 457 -> 341 ms, MobileNetV3-large's 343 -> 298 ms; SQNR within 0.2 dB on the six CNNs of
     * docs/benchmarks.md). The range the method chooses is clipped to what its histogram saw.
     */
    private Outputs addStatistics(GraphEditor editor, List<NodeProto> nodes, String tensor, boolean nonNegative,
                                  boolean image, String binCount, int stride, String tiny) {
        String values = tensor;
        if (binCount != null && stride > 1) {
            values = editor.freshName(tensor + "_calibration_sample");
            nodes.add(OnnxHelper.node("MaxPool", List.of(tensor), List.of(values),
                    OnnxHelper.attr("kernel_shape", 1L, 1L),
                    OnnxHelper.attr("strides", (long) stride, (long) stride)));
        }
        String min = null;
        String max = editor.freshName(tensor + "_calibration_max");
        if (nonNegative) {
            String reduced = values;
            if (image && values.equals(tensor)) {
                reduced = editor.freshName(tensor + "_calibration_channel_max");
                nodes.add(OnnxHelper.node("GlobalMaxPool", List.of(tensor), List.of(reduced)));
            }
            nodes.add(OnnxHelper.node("ReduceMax", List.of(reduced), List.of(max), OnnxHelper.attr("keepdims", 0L)));
        } else {
            min = editor.freshName(tensor + "_calibration_min");
            nodes.add(OnnxHelper.node("ReduceMin", List.of(values), List.of(min), OnnxHelper.attr("keepdims", 0L)));
            nodes.add(OnnxHelper.node("ReduceMax", List.of(values), List.of(max), OnnxHelper.attr("keepdims", 0L)));
            editor.addOutput(min);
        }
        editor.addOutput(max);
        if (binCount == null) {
            return new Outputs(min, max, null);
        }
        String absMax = max;
        if (min != null) {
            String negMin = editor.freshName(tensor + "_calibration_neg_min");
            absMax = editor.freshName(tensor + "_calibration_abs_max");
            nodes.add(OnnxHelper.node("Neg", List.of(min), List.of(negMin)));
            nodes.add(OnnxHelper.node("Max", List.of(negMin, max), List.of(absMax)));
        }
        String safeMax = editor.freshName(tensor + "_calibration_safe_max");
        String perUnit = editor.freshName(tensor + "_calibration_bins_per_unit");
        String scaled = editor.freshName(tensor + "_calibration_scaled");
        String bins = editor.freshName(tensor + "_calibration_bins");
        nodes.addAll(List.of(
                OnnxHelper.node("Max", List.of(absMax, tiny), List.of(safeMax)),
                OnnxHelper.node("Div", List.of(binCount, safeMax), List.of(perUnit)),
                OnnxHelper.node("Mul", List.of(values, perUnit), List.of(scaled)),
                OnnxHelper.node("Cast", List.of(scaled), List.of(bins), OnnxHelper.attr("to", (long) binType().code()))));
        editor.addOutput(bins);
        return new Outputs(min, max, bins);
    }

    /**
     * Puts a tensor's statistics right after the node that writes it. ONNX Runtime runs a graph in the order of
     * its file where it may: appended at the end, the reductions kept every calibrated tensor alive to the end of
     * the run (MobileNetV2, batch 32: the first run 0.59 s and 1.05 s in two tries, against 0.44 s and 0.56 s
     * placed after their producers; 0.18 s once warm).
     */
    private static void placeAfterProducer(GraphEditor editor, String tensor, List<NodeProto> nodes) {
        Optional<NodeHandle> producer = editor.producer(tensor);
        if (producer.isEmpty()) {
            nodes.forEach(editor::addNode);
            return;
        }
        List<NodeProto> placed = new ArrayList<>();
        placed.add(editor.node(producer.get()));
        placed.addAll(nodes);
        editor.replace(producer.get(), placed);
    }

    /**
     * Counts bin indices by their absolute value; the maximum itself lands one past the last bin and is
     * counted in it.
     */
    private static long[] count(Tensor indices, int bins) {
        long[] counts = new long[bins];
        int last = bins - 1;
        ByteBuffer data = indices.data().order(ByteOrder.LITTLE_ENDIAN);
        if (indices.type() == DataType.INT16) {
            var shorts = data.asShortBuffer();
            for (int i = shorts.position(); i < shorts.limit(); i++) {
                counts[Math.min(last, Math.abs(shorts.get(i)))]++;
            }
        } else {
            var ints = data.asIntBuffer();
            for (int i = ints.position(); i < ints.limit(); i++) {
                counts[Math.min(last, Math.abs(ints.get(i)))]++;
            }
        }
        return counts;
    }

    /**
     * The range the histogram method chooses, never wider than what was seen (a ReLU output keeps its zero
     * lower end). Entropy spreads 256 steps over a tensor that is never negative, 128 over each half of one
     * that is.
     */
    private TensorRange clipped(Histogram histogram, double[] seen) {
        double threshold;
        if (settings.method() == CalibrationMethod.PERCENTILE) {
            threshold = histogram.percentile(settings.percentile());
        } else {
            boolean oneSided = seen[0] >= -1e-3 * Math.max(seen[1], 0);
            threshold = histogram.entropyThreshold(oneSided ? 256 : 128);
        }
        return new TensorRange(Math.max(-threshold, seen[0]), Math.min(threshold, seen[1]));
    }

    /** The widest stride of the histogram's sample for the method: 1 where nothing is counted. */
    private int widestStride() {
        return switch (settings.method()) {
            case PERCENTILE -> PERCENTILE_STRIDE;
            case ENTROPY -> ENTROPY_STRIDE;
            case MIN_MAX -> 1;
        };
    }

    /**
     * The stride of the sample a tensor's histogram counts: 1 (every value) unless it is image-shaped with known
     * dimensions and a sample every {@code stride} pixels, at most {@code widest}, keeps {@link #SAMPLED_VALUES}
     * values of each sample.
     */
    static int sampleStride(TensorInfo info, int widest) {
        if (info == null || info.rank() != 4) {
            return 1;
        }
        long[] shape = info.shape();
        if (shape[1] <= 0 || shape[2] <= 0 || shape[3] <= 0) {
            return 1;
        }
        int stride = 1;
        while (stride < widest && shape[1] * sampled(shape[2], stride + 1)
                * sampled(shape[3], stride + 1) >= SAMPLED_VALUES) {
            stride++;
        }
        return stride;
    }

    /** Pixels a stride keeps along a dimension: the first and every {@code stride}-th after it. */
    private static long sampled(long size, int stride) {
        return (size + stride - 1) / stride;
    }

    /** The type of bin indices: 16 bits where the bins fit. */
    private DataType binType() {
        return settings.bins() <= Short.MAX_VALUE ? DataType.INT16 : DataType.INT32;
    }

    /** Samples the last calibration read: the data may hold fewer than {@code max-samples}. */
    long samples() {
        return samples;
    }

    /**
     * The requested batch size, smaller when one sample's calibrated tensors are large as floats (a model with a
     * fixed batch takes its own whatever this says).
     */
    int batchSize(Set<String> tensors, Map<String, TensorInfo> types) {
        long perSample = 0;
        for (String tensor : tensors) {
            TensorInfo info = types.get(tensor);
            if (info == null) {
                continue;
            }
            long elements = 1;
            long[] shape = info.shape();
            for (int d = 1; d < shape.length; d++) {
                elements *= Math.max(1, shape[d]);
            }
            perSample += elements * Float.BYTES;
        }
        long fit = perSample == 0 ? settings.batchSize() : Math.max(1, BATCH_BYTES / perSample);
        return (int) Math.max(1, Math.min(settings.batchSize(), fit));
    }
}
