package io.modelrefinery.api.plugin;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.infer.GraphOptimizationLevel;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Per-layer sensitivity of a compressed model, in the one form every compressing transform reports and a
 * host reads back: each changed layer's own output SQNR {@code 10 log10(sum y^2 / sum (y - y')^2)}, where
 * {@code y'} is the changed layer's output in the compressed model and {@code y} that of a copy of the
 * original layer reading the same inputs, so that a layer is charged for its own change and not for the
 * errors it was fed. The transform adds the copies (a probe per layer) to its output model; this class runs
 * the samples through it once for all layers and writes the step's metrics:
 * {@value #METRIC_PREFIX}{@code LAYER} per layer (capped at {@link Evaluation#IDENTICAL_SQNR_DB}),
 * {@value #WORST_METRIC}, and a note naming the {@value #WORST} least accurate layers.
 */
public final class LayerSensitivity {
    /** Prefix of the per-layer metric; the rest of the name is the layer's node name. */
    public static final String METRIC_PREFIX = "layer-sqnr-db:";
    /** The lowest per-layer SQNR. */
    public static final String WORST_METRIC = "worst-layer-sqnr-db";
    /** Layers named in the note, least accurate first. */
    public static final int WORST = 5;

    private LayerSensitivity() {
    }

    /** A layer's own output SQNR in dB ({@link Evaluation#IDENTICAL_SQNR_DB} when unchanged). */
    public record Layer(String name, double sqnrDb) {
    }

    /**
     * One layer to measure: two values of the probed model.
     *
     * @param layer the layer's node name, as the metric names it
     * @param changed the value the compressed layer writes
     * @param reference the value the copy of the original layer writes
     */
    public record Probe(String layer, String changed, String reference) {
    }

    /**
     * Sums signal and noise of every probe over the batches it is given. By default a batch must hold both
     * values of every probe; after {@link #summing} the probed model computes each probe's two sums itself
     * and a batch holds only those scalars, so that no activation crosses into Java (a full-size CNN's
     * activations at batch 32 are gigabytes per batch, and copying them cost more than running the model).
     */
    public static final class Meter {
        private final List<Probe> probes;
        private final double[] signal;
        private final double[] noise;
        /** Per probe, the names of its two sums in the probed model; null until {@link #summing}. */
        private String[] signalSums;
        private String[] noiseSums;

        public Meter(List<Probe> probes) {
            this.probes = List.copyOf(probes);
            this.signal = new double[probes.size()];
            this.noise = new double[probes.size()];
        }

        /**
         * {@code probed} (a model holding every probe's values, of any numeric type) with each probe's
         * {@code sum(reference^2)} and {@code sum((reference - changed)^2)} computed in the graph, and this
         * meter reading those sums from then on: {@link #values} names them and {@link #add} adds them.
         * The sums are taken per batch in float32 and added up here in double precision (api 1.7).
         */
        public OnnxModel summing(OnnxModel probed) {
            GraphEditor editor = GraphEditor.of(probed.graph());
            signalSums = new String[probes.size()];
            noiseSums = new String[probes.size()];
            for (int l = 0; l < probes.size(); l++) {
                Probe p = probes.get(l);
                // in float32 whatever the values' type, as the element-wise meter reads them
                String reference = editor.freshName(p.reference() + "_as_float");
                String changed = editor.freshName(p.changed() + "_as_float");
                editor.addNode(OnnxHelper.node("Cast", List.of(p.reference()), List.of(reference),
                        OnnxHelper.attr("to", (long) DataType.FLOAT.code())));
                editor.addNode(OnnxHelper.node("Cast", List.of(p.changed()), List.of(changed),
                        OnnxHelper.attr("to", (long) DataType.FLOAT.code())));
                String error = editor.freshName(p.reference() + "_error");
                signalSums[l] = editor.freshName(p.reference() + "_signal_sum");
                noiseSums[l] = editor.freshName(p.reference() + "_noise_sum");
                // no axes: every axis is reduced, in every opset (ReduceSumSquare took axes as an input from 18)
                editor.addNode(OnnxHelper.node("Sub", List.of(reference, changed), List.of(error)));
                editor.addNode(OnnxHelper.node("ReduceSumSquare", List.of(reference), List.of(signalSums[l]),
                        OnnxHelper.attr("keepdims", 0L)));
                editor.addNode(OnnxHelper.node("ReduceSumSquare", List.of(error), List.of(noiseSums[l]),
                        OnnxHelper.attr("keepdims", 0L)));
                editor.addOutput(signalSums[l]);
                editor.addOutput(noiseSums[l]);
            }
            return probed.withGraph(editor.build());
        }

        /** The values a batch must hold: each probe's changed and reference value, or its two sums. */
        public List<String> values() {
            List<String> values = new ArrayList<>();
            for (int l = 0; l < probes.size(); l++) {
                if (signalSums != null) {
                    values.add(signalSums[l]);
                    values.add(noiseSums[l]);
                } else {
                    values.add(probes.get(l).changed());
                    values.add(probes.get(l).reference());
                }
            }
            return values;
        }

        /** Adds one batch's values, by name. */
        public void add(Map<String, Tensor> batch) {
            for (int l = 0; l < probes.size(); l++) {
                if (signalSums != null) {
                    signal[l] += batch.get(signalSums[l]).toFloatArray()[0];
                    noise[l] += batch.get(noiseSums[l]).toFloatArray()[0];
                    continue;
                }
                float[] changed = batch.get(probes.get(l).changed()).toFloatArray();
                float[] reference = batch.get(probes.get(l).reference()).toFloatArray();
                for (int i = 0; i < reference.length; i++) {
                    double e = (double) reference[i] - changed[i];
                    signal[l] += (double) reference[i] * reference[i];
                    noise[l] += e * e;
                }
            }
        }

        /** Every probe's SQNR so far, in the probes' order. */
        public List<Layer> layers() {
            List<Layer> out = new ArrayList<>();
            for (int l = 0; l < probes.size(); l++) {
                double db = noise[l] == 0 ? Evaluation.IDENTICAL_SQNR_DB
                        : Math.min(Evaluation.IDENTICAL_SQNR_DB, 10 * Math.log10(signal[l] / noise[l]));
                out.add(new Layer(probes.get(l).layer(), db));
            }
            return out;
        }
    }

    /** What {@link #measure} found, and on how many samples. */
    public record Measured(List<Layer> layers, long samples) {
    }

    /**
     * Runs up to {@code maxSamples} samples (all for 0) of {@code data} through {@code probed} (a model
     * holding every probe's values), in batches of {@code batchSize} or the model's own fixed batch, with
     * graph optimization off so that every value keeps its name; each probe's sums are computed in the graph
     * ({@link Meter#summing}).
     *
     * @throws io.modelrefinery.api.data.InvalidDataException if the samples do not fit the model
     */
    public static Measured measure(InferenceService inference, OnnxModel probed, List<Probe> probes, Dataset data,
                                   int batchSize, long maxSamples, Cancellation cancellation) {
        if (probes.isEmpty()) {
            return new Measured(List.of(), 0);
        }
        Meter meter = new Meter(probes);
        OnnxModel summing = meter.summing(probed);
        List<String> values = meter.values();
        SessionOptions options = SessionOptions.defaults().withOptimization(GraphOptimizationLevel.DISABLED);
        try (InferenceSession session = inference.open(summing, options)) {
            Datasets.requireFits(data, session.inputs());
            long samples = Datasets.forEachModelBatch(data, session.inputs(), batchSize, maxSamples,
                    cancellation::throwIfCancelled, (batch, offset, total) -> {
                        Map<String, Tensor> feeds = new LinkedHashMap<>();
                        for (TensorInfo input : session.inputs()) {
                            feeds.put(input.name(), batch.get(input.name()));
                        }
                        meter.add(session.run(feeds, values));
                    });
            return new Measured(meter.layers(), samples);
        }
    }

    /**
     * {@code result} with a metric {@value #METRIC_PREFIX}{@code LAYER} per layer, {@value #WORST_METRIC}, and
     * a note naming the least accurate layers; as it is when {@code layers} is empty.
     *
     * @param what how the note calls the layers ("pruned", "quantized")
     * @param samples samples measured on
     * @param data which samples ("calibration", "evaluation")
     */
    public static TransformResult report(TransformResult result, List<Layer> layers, String what, long samples,
                                         String data) {
        if (layers.isEmpty()) {
            return result;
        }
        for (Layer layer : layers) {
            result = result.withMetric(METRIC_PREFIX + layer.name(), layer.sqnrDb());
        }
        List<String> worst = layers.stream().sorted(Comparator.comparingDouble(Layer::sqnrDb)).limit(WORST)
                .map(l -> String.format(Locale.ROOT, "%s %.1f dB", l.name(), l.sqnrDb())).toList();
        return result.withMetric(WORST_METRIC, layers.stream().mapToDouble(Layer::sqnrDb).min().orElseThrow())
                .withNote("least accurate " + what + " layers, own output SQNR on " + samples + " " + data
                        + " samples: " + String.join(", ", worst));
    }

    /** The per-layer SQNRs among a step's {@code metrics}, as {@link #report} wrote them, least accurate first. */
    public static List<Layer> read(Map<String, Double> metrics) {
        return metrics.entrySet().stream().filter(e -> e.getKey().startsWith(METRIC_PREFIX) && e.getValue() != null)
                .map(e -> new Layer(e.getKey().substring(METRIC_PREFIX.length()), e.getValue()))
                .sorted(Comparator.comparingDouble(Layer::sqnrDb)).toList();
    }
}
