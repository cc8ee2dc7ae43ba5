package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.data.Batch;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.data.InvalidDataException;
import io.modelrefinery.api.infer.GraphOptimizationLevel;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.plugin.Cancellation;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Streams calibration samples through two models at once, the original and the one being pruned, and
 * hands each batch's values of one tensor in both to a sink: a layer's input as the dense model sees it
 * and as the pruned model so far sees it. The tensors become graph outputs of a copy of each model, read
 * from ONNX Runtime sessions with graph optimization off (so every value keeps its name). Memory depends
 * on the batch, never on the number of samples.
 */
final class LayerInputs {
    /** Receives one batch of the tensor: as the original model computes it, and as the pruned one does. */
    @FunctionalInterface
    interface Sink {
        void accept(Tensor dense, Tensor pruned);
    }

    private final InferenceService inference;
    private final Dataset data;
    private final int batchSize;
    private final long maxSamples;
    private final Cancellation cancellation;
    private long samples;

    LayerInputs(InferenceService inference, Dataset data, int batchSize, long maxSamples, Cancellation cancellation) {
        this.inference = inference;
        this.data = data;
        this.batchSize = batchSize;
        this.maxSamples = maxSamples;
        this.cancellation = cancellation;
    }

    /** Samples a full pass reads: all of the data, or max-samples of it. */
    long available() {
        return maxSamples > 0 ? Math.min(maxSamples, data.size()) : data.size();
    }

    /** Samples read by the last pass (of either kind). */
    long samples() {
        return samples;
    }

    /**
     * One pass over the samples.
     *
     * @param pruned the model being pruned, or {@code null} when it still computes {@code denseValue} as the
     *     original does (then the sink gets the same tensor twice)
     * @throws InvalidDataException if the samples do not fit the model, are empty or hold NaN or infinity
     */
    void stream(OnnxModel dense, String denseValue, OnnxModel pruned, String prunedValue, Sink sink) {
        SessionOptions options = SessionOptions.defaults().withOptimization(GraphOptimizationLevel.DISABLED);
        try (InferenceSession denseSession = inference.open(withOutput(dense, denseValue), options);
             InferenceSession prunedSession = pruned == null ? null : inference.open(withOutput(pruned, prunedValue),
                     options)) {
            Datasets.requireFits(data, denseSession.inputs());
            // the model's own batch when it fixes one (most exports fix 1), else batchSize
            samples = Datasets.forEachModelBatch(data, denseSession.inputs(), batchSize, maxSamples,
                    cancellation::throwIfCancelled,
                    (batch, offset, total) -> {
                        Map<String, Tensor> feeds = feeds(denseSession.inputs(), batch);
                        Tensor d = value(denseSession, feeds, denseValue);
                        Tensor p = prunedSession == null ? d : value(prunedSession, feeds, prunedValue);
                        sink.accept(d, p);
                    });
        }
    }

    /** Receives the values asked of one model for one batch, by name. */
    @FunctionalInterface
    interface ValuesSink {
        void accept(Map<String, Tensor> values);
    }

    /**
     * One pass of the first {@code limit} samples (all for 0, and never more than max-samples) through
     * {@code model} alone, handing {@code values} of each batch to {@code sink}: graph outputs, or inner
     * values made outputs.
     *
     * @return the samples read
     */
    long run(OnnxModel model, List<String> values, long limit, ValuesSink sink) {
        GraphEditor editor = GraphEditor.of(model.graph());
        for (String value : values) {
            boolean output = model.graph().getOutputList().stream().anyMatch(v -> v.getName().equals(value));
            if (!output) {
                editor.addOutput(value);
            }
        }
        SessionOptions options = SessionOptions.defaults().withOptimization(GraphOptimizationLevel.DISABLED);
        long max = maxSamples == 0 ? limit : limit == 0 ? maxSamples : Math.min(limit, maxSamples);
        try (InferenceSession session = inference.open(model.withGraph(editor.build()), options)) {
            Datasets.requireFits(data, session.inputs());
            return samples = Datasets.forEachModelBatch(data, session.inputs(), batchSize, max,
                    cancellation::throwIfCancelled, (batch, offset, total) -> {
                sink.accept(session.run(feeds(session.inputs(), batch), values));
            });
        }
    }

    /** The batch's arrays the model takes: a dataset may hold more than its inputs and labels. */
    private static Map<String, Tensor> feeds(List<TensorInfo> inputs, Batch batch) {
        Map<String, Tensor> feeds = new LinkedHashMap<>();
        for (TensorInfo input : inputs) {
            feeds.put(input.name(), batch.get(input.name()));
        }
        return feeds;
    }

    private static Tensor value(InferenceSession session, Map<String, Tensor> feeds, String name) {
        Tensor fed = feeds.get(name);
        return fed != null ? fed : session.run(feeds, List.of(name)).get(name);
    }

    private static OnnxModel withOutput(OnnxModel model, String value) {
        boolean input = model.graph().getInputList().stream().anyMatch(v -> v.getName().equals(value));
        return input ? model : model.withGraph(GraphEditor.of(model.graph()).addOutput(value).build());
    }
}
