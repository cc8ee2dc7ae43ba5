package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.data.InvalidDataException;
import io.modelrefinery.api.infer.GraphOptimizationLevel;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.Progress;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Finds the value range of chosen tensors over calibration samples, streaming: an ONNX Runtime session
 * over a copy of the model whose graph outputs include the tensors runs batch by batch, and each batch
 * only updates per-tensor statistics (min/max, then a fixed-range histogram for the histogram methods).
 * Memory depends on the batch, never on the number of samples.
 */
final class Calibrator {
    /** Budget for one batch's calibrated tensors; the batch shrinks to fit large activations. */
    private static final long BATCH_BYTES = 256L << 20;

    /**
     * How to calibrate.
     *
     * @param method how ranges are chosen
     * @param percentile for {@link CalibrationMethod#PERCENTILE}
     * @param bins histogram bins
     * @param quantizedBins levels of the quantized distribution, for {@link CalibrationMethod#ENTROPY}
     * @param batchSize samples per run, at most
     * @param maxSamples stop after this many samples; 0 for all
     */
    record Settings(CalibrationMethod method, double percentile, int bins, int quantizedBins, int batchSize,
                    long maxSamples) {
    }

    private final InferenceService inference;
    private final Dataset data;
    private final Settings settings;
    private long samples;
    private final Progress progress;
    private final Cancellation cancellation;

    Calibrator(InferenceService inference, Dataset data, Settings settings, Progress progress, Cancellation cancellation) {
        this.inference = inference;
        this.data = data;
        this.settings = settings;
        this.progress = progress;
        this.cancellation = cancellation;
    }

    /**
     * The range of each of {@code tensors} (float values of {@code model}) over the samples.
     *
     * @param types the model's value types, for sizing batches
     * @throws InvalidDataException if the samples do not fit the model, are empty, or hold NaN or infinity
     */
    Map<String, TensorRange> calibrate(OnnxModel model, Set<String> tensors, Map<String, TensorInfo> types) {
        GraphEditor editor = GraphEditor.of(model.graph());
        Set<String> graphInputs = new java.util.HashSet<>();
        model.graph().getInputList().forEach(v -> graphInputs.add(v.getName()));
        for (String tensor : tensors) {
            if (!graphInputs.contains(tensor)) {
                editor.addOutput(tensor); // inputs are read from the samples themselves
            }
        }
        OnnxModel augmented = model.withGraph(editor.build());
        SessionOptions options = SessionOptions.defaults().withOptimization(GraphOptimizationLevel.DISABLED);
        try (InferenceSession session = inference.open(augmented, options)) {
            Datasets.requireFits(data, session.inputs());
            int batch = batchSize(tensors, types);
            Map<String, double[]> minMax = new LinkedHashMap<>();
            pass(session, tensors, batch, "calibrating ranges", (name, values) -> {
                double[] mm = minMax.computeIfAbsent(name, k -> new double[] {Double.POSITIVE_INFINITY,
                        Double.NEGATIVE_INFINITY});
                float min = (float) mm[0];
                float max = (float) mm[1];
                for (int i = values.position(); i < values.limit(); i++) {
                    float v = values.get(i);
                    min = Math.min(min, v);
                    max = Math.max(max, v);
                }
                mm[0] = min;
                mm[1] = max;
            });
            if (settings.method() == CalibrationMethod.MIN_MAX) {
                Map<String, TensorRange> out = new LinkedHashMap<>();
                minMax.forEach((name, mm) -> out.put(name, new TensorRange(mm[0], mm[1])));
                return out;
            }
            return histogramRanges(session, tensors, batch, minMax);
        }
    }

    private Map<String, TensorRange> histogramRanges(InferenceSession session, Set<String> tensors, int batch,
                                                     Map<String, double[]> minMax) {
        boolean percentile = settings.method() == CalibrationMethod.PERCENTILE;
        Map<String, Histogram> histograms = new HashMap<>();
        minMax.forEach((name, mm) -> {
            double abs = Math.max(Math.abs(mm[0]), Math.abs(mm[1]));
            histograms.put(name, percentile ? new Histogram(0, abs, settings.bins())
                    : new Histogram(-abs, abs, settings.bins() + settings.bins() % 2));
        });
        pass(session, tensors, batch, "calibrating histograms", (name, values) ->
                histograms.get(name).add(values, percentile));
        Map<String, TensorRange> out = new LinkedHashMap<>();
        minMax.forEach((name, mm) -> {
            Histogram h = histograms.get(name);
            TensorRange r;
            if (percentile) {
                double threshold = h.absolutePercentile(settings.percentile());
                r = new TensorRange(-threshold, threshold);
            } else {
                r = h.entropyRange(settings.quantizedBins());
            }
            // Never wider than what was seen: a ReLU output keeps its zero lower end.
            out.put(name, new TensorRange(Math.max(r.min(), mm[0]), Math.min(r.max(), mm[1])));
        });
        return out;
    }

    /** Receives the values of one calibrated tensor for one batch, without copying them again. */
    @FunctionalInterface
    private interface Sink {
        void accept(String tensor, FloatBuffer values);
    }

    /** One pass over the samples, handing every calibrated tensor of every batch to {@code sink}. */
    private void pass(InferenceSession session, Set<String> tensors, int batchSize, String what, Sink sink) {
        List<String> inputs = session.inputs().stream().map(TensorInfo::name).toList();
        List<String> fetched = new ArrayList<>();
        for (String tensor : tensors) {
            if (!inputs.contains(tensor)) {
                fetched.add(tensor);
            }
        }
        long done = Datasets.forEachBatch(data, batchSize, settings.maxSamples(), cancellation::throwIfCancelled,
                (batch, offset, total) -> {
                    Map<String, Tensor> feeds = new LinkedHashMap<>();
                    for (String input : inputs) {
                        Tensor t = batch.get(input);
                        feeds.put(input, t);
                        if (tensors.contains(input)) {
                            sink.accept(input, t.data().asFloatBuffer());
                        }
                    }
                    Map<String, Tensor> outputs = session.run(feeds, fetched);
                    for (Map.Entry<String, Tensor> e : outputs.entrySet()) {
                        if (e.getValue().type() == DataType.FLOAT) {
                            sink.accept(e.getKey(), e.getValue().data().asFloatBuffer());
                        }
                    }
                    progress.update(offset + batch.size(), total, what);
                });
        samples = done;
    }

    /** Samples the last pass read: the data may hold fewer than {@code max-samples}. */
    long samples() {
        return samples;
    }

    /** The requested batch size, smaller when one sample's calibrated tensors are large. */
    private int batchSize(Set<String> tensors, Map<String, TensorInfo> types) {
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
            perSample += elements * 4 * 2; // float output, plus its copy on the Java side
        }
        long fit = perSample == 0 ? settings.batchSize() : Math.max(1, BATCH_BYTES / perSample);
        return (int) Math.max(1, Math.min(settings.batchSize(), fit));
    }
}
