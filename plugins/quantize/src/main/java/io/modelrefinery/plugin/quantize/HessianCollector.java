package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.data.InvalidDataException;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.Progress;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The layer Hessians {@code H = sum x x^T} of chosen MatMul inputs over calibration samples, in one pass of
 * the float model. Like the {@link Calibrator}, it reduces inside the graph: a copy of the model flattens
 * each input to rows of its last axis and multiplies it by itself transposed, so that a batch returns one
 * {@code K x K} matrix per input (computed by ONNX Runtime's GEMM), never the activations. The batches' float
 * products are summed in double. Inputs shared by several MatMuls (the Q, K and V projections) are reduced
 * once.
 */
final class HessianCollector {
    private final InferenceService inference;
    private final Dataset data;
    private final int batchSize;
    private final long maxSamples;
    private final Progress progress;
    private final Cancellation cancellation;
    private long samples;

    HessianCollector(InferenceService inference, Dataset data, int batchSize, long maxSamples, Progress progress,
                     Cancellation cancellation) {
        this.inference = inference;
        this.data = data;
        this.batchSize = batchSize;
        this.maxSamples = maxSamples;
        this.progress = progress;
        this.cancellation = cancellation;
    }

    /**
     * The graph cut down to the nodes {@code values} depend on, with no outputs: a pass computes only what
     * the Hessians need (the layers before them), which is what makes sequential GPTQ affordable.
     */
    static GraphProto prefix(GraphProto graph, Set<String> values) {
        GraphIndex index = GraphIndex.of(graph);
        Set<NodeProto> needed = new HashSet<>();
        Deque<String> pending = new ArrayDeque<>(values);
        Set<String> seen = new HashSet<>(values);
        while (!pending.isEmpty()) {
            index.producer(pending.pop()).filter(needed::add).ifPresent(node -> {
                for (String input : GraphIndex.inputsIncludingSubgraphs(node)) {
                    if (seen.add(input)) {
                        pending.push(input);
                    }
                }
            });
        }
        GraphProto.Builder builder = graph.toBuilder().clearNode().clearOutput();
        graph.getNodeList().stream().filter(needed::contains).forEach(builder::addNode);
        return builder.build();
    }

    /** Samples read by the last pass. */
    long samples() {
        return samples;
    }

    /**
     * {@code K x K} row-major for each tensor, {@code widths} giving K.
     *
     * @throws InvalidDataException if the samples do not fit the model, are empty or hold NaN or infinity
     */
    Map<String, double[]> collect(OnnxModel model, Map<String, Integer> widths) {
        GraphEditor editor = GraphEditor.of(prefix(model.graph(), widths.keySet()));
        Map<String, String> outputs = new LinkedHashMap<>();
        widths.forEach((tensor, k) -> {
            String shape = editor.freshName(tensor + "_hessian_shape");
            String flat = editor.freshName(tensor + "_hessian_rows");
            String transposed = editor.freshName(tensor + "_hessian_columns");
            String product = editor.freshName(tensor + "_hessian");
            editor.putInitializer(Tensor.ofLongs(new long[] {2}, -1, k).toProto(shape));
            editor.addNode(OnnxHelper.node("Reshape", List.of(tensor, shape), List.of(flat)));
            editor.addNode(OnnxHelper.node("Transpose", List.of(flat), List.of(transposed), OnnxHelper.attr("perm", 1L, 0L)));
            editor.addNode(OnnxHelper.node("MatMul", List.of(transposed, flat), List.of(product)));
            editor.addOutput(product);
            outputs.put(tensor, product);
        });
        Map<String, double[]> sums = new LinkedHashMap<>();
        widths.forEach((tensor, k) -> sums.put(tensor, new double[k * k]));
        try (InferenceSession session = inference.open(model.withGraph(editor.build()), SessionOptions.defaults())) {
            Datasets.requireFits(data, session.inputs());
            List<String> inputs = session.inputs().stream().map(TensorInfo::name).toList();
            List<String> fetched = new ArrayList<>(outputs.values());
            samples = Datasets.forEachModelBatch(data, session.inputs(), batchSize, maxSamples,
                    cancellation::throwIfCancelled, (batch, offset, total) -> {
                        Map<String, Tensor> feeds = new LinkedHashMap<>();
                        for (String input : inputs) {
                            feeds.put(input, batch.get(input));
                        }
                        Map<String, Tensor> results = session.run(feeds, fetched);
                        outputs.forEach((tensor, output) -> {
                            float[] g = results.get(output).toFloatArray();
                            double[] sum = sums.get(tensor);
                            for (int i = 0; i < g.length; i++) {
                                sum[i] += g[i];
                            }
                        });
                        progress.update(offset + batch.size(), total, "collecting layer inputs");
                    });
        }
        return sums;
    }
}
