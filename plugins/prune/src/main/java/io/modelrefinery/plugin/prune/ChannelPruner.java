package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.NodeHandle;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Removes whole output channels of a layer, and with them the matching inputs of the layers that read
 * them, so that the model gets smaller and faster rather than sparser. A layer qualifies when its output
 * reaches only per-channel operators (activations, pooling, BatchNormalization, which shrink along) and
 * then convolutions ({@code group=1}), or a Flatten into Gemm or MatMul, whose inputs then shrink. The
 * removed channels' constant output (their bias through the activations) is folded into the bias of the
 * layers that read them. A depthwise convolution on the way works channel by channel: it loses the
 * removed channels' filters and the walk goes on past it.
 */
final class ChannelPruner {
    private static final Set<String> PER_CHANNEL = Set.of("Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip",
            "Identity", "Dropout", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
            "BatchNormalization");

    /** A layer reading the pruned channels. {@code spatial}: inputs per channel (after a Flatten), else 1. */
    record Reader(WeightLayer layer, int spatial, List<NodeProto> path) {
    }

    /**
     * What removing channels of one layer touches.
     *
     * @param producer the layer losing output channels
     * @param readers the layers losing inputs, each with the per-channel operators on its way
     * @param perChannel the per-channel nodes between them
     * @param values the values whose shapes change
     */
    record Plan(WeightLayer producer, List<Reader> readers, List<NodeProto> perChannel, Set<String> values) {
    }

    private final OnnxModel model;
    private final GraphIndex index;
    private final Map<String, TensorInfo> types;

    ChannelPruner(OnnxModel model, Map<String, TensorInfo> types) {
        this.model = model;
        this.index = GraphIndex.of(model.graph());
        this.types = types;
    }

    /**
     * The plan for {@code producer}.
     *
     * @return the plan, or the reason why its channels cannot be removed, as a string
     */
    Object plan(WeightLayer producer) {
        if (producer.groups != 1) {
            return "it is a grouped convolution";
        }
        List<Reader> readers = new ArrayList<>();
        List<NodeProto> perChannel = new ArrayList<>();
        Set<String> values = new HashSet<>();
        String problem = walk(producer.node.getOutput(0), new ArrayList<>(), readers, perChannel, values,
                producer.kind == WeightLayer.Kind.CONV);
        if (problem != null) {
            return problem;
        }
        if (readers.isEmpty()) {
            return "no layer reads its output";
        }
        return new Plan(producer, readers, perChannel, values);
    }

    private String walk(String value, List<NodeProto> path, List<Reader> readers, List<NodeProto> perChannel,
                        Set<String> values, boolean channelsFirst) {
        values.add(value);
        if (index.isGraphOutput(value)) {
            return "its output reaches the graph output '" + value + "'";
        }
        for (NodeProto node : index.consumers(value)) {
            String op = node.getOpType();
            if (!node.getDomain().isEmpty() || node.getInputCount() == 0 || !node.getInput(0).equals(value)
                    || node.getInputList().subList(1, node.getInputCount()).contains(value)) {
                return "its output is read by " + GraphIndex.describe(node);
            }
            boolean depthwise = channelsFirst && depthwise(node);
            if (PER_CHANNEL.contains(op) || depthwise) {
                for (int i = 1; i < node.getInputCount() && !depthwise; i++) {
                    String in = node.getInput(i);
                    if (!in.isEmpty() && (!index.isInitializer(in) || (op.equals("BatchNormalization")
                            && index.consumers(in).size() != 1))) {
                        return GraphIndex.describe(node) + " has an input that is not its own constant";
                    }
                }
                for (int o = 1; o < node.getOutputCount(); o++) {
                    if (!node.getOutput(o).isEmpty() && !index.consumers(node.getOutput(o)).isEmpty()) {
                        return GraphIndex.describe(node) + " has a second output in use";
                    }
                }
                perChannel.add(node);
                List<NodeProto> next = new ArrayList<>(path);
                next.add(node);
                String problem = walk(node.getOutput(0), next, readers, perChannel, values, channelsFirst);
                if (problem != null) {
                    return problem;
                }
            } else if (op.equals("Flatten") && channelsFirst) {
                if (OnnxHelper.getInt(node, "axis", 1) != 1) {
                    return GraphIndex.describe(node) + " does not flatten from axis 1";
                }
                TensorInfo info = types.get(value);
                long spatial = 1;
                if (info == null || info.shape().length < 2) {
                    return "the shape of " + value + " is unknown";
                }
                for (int d = 2; d < info.shape().length; d++) {
                    if (info.shape()[d] <= 0) {
                        return "the shape of " + value + " is not static";
                    }
                    spatial *= info.shape()[d];
                }
                values.add(node.getOutput(0));
                if (index.isGraphOutput(node.getOutput(0))) {
                    return "its flattened output is a graph output";
                }
                for (NodeProto reader : index.consumers(node.getOutput(0))) {
                    String problem = reader(reader, node.getOutput(0), (int) spatial, path, readers, false);
                    if (problem != null) {
                        return problem;
                    }
                }
            } else {
                String problem = reader(node, value, 1, path, readers, channelsFirst);
                if (problem != null) {
                    return problem;
                }
            }
        }
        return null;
    }

    /**
     * Whether {@code node} is a depthwise convolution (one filter per channel, {@code group} = channels):
     * it works channel by channel, so it loses the removed channels' filters and passes the rest on.
     */
    private boolean depthwise(NodeProto node) {
        if (!node.getOpType().equals("Conv") || !node.getDomain().isEmpty() || node.getInputCount() < 2) {
            return false;
        }
        WeightLayer layer = WeightLayer.of(node, index).orElse(null);
        return layer != null && layer.channelsPerGroup == 1 && layer.rows == 1 && layer.groups > 1
                && index.consumers(layer.weightName).size() == 1
                && (layer.biasName == null || index.consumers(layer.biasName).size() == 1);
    }

    private String reader(NodeProto node, String value, int spatial, List<NodeProto> path, List<Reader> readers,
                          boolean channelsFirst) {
        String op = node.getOpType();
        boolean ok = channelsFirst ? op.equals("Conv") : op.equals("Gemm") || op.equals("MatMul");
        if (!ok || !node.getInput(0).equals(value)) {
            return "its output reaches " + GraphIndex.describe(node);
        }
        WeightLayer layer = WeightLayer.of(node, index).orElse(null);
        if (layer == null || layer.groups != 1 || index.consumers(layer.weightName).size() != 1
                || (layer.biasName != null && index.consumers(layer.biasName).size() != 1)) {
            return "its output reaches " + GraphIndex.describe(node) + ", whose weight cannot shrink";
        }
        readers.add(new Reader(layer, spatial, path));
        return null;
    }

    /** The producer's output channels ranked by the L1 norm of their weights, lowest first. */
    static Integer[] rank(WeightLayer producer, double[][][] matrix) {
        int outputs = producer.rows;
        double[] norm = new double[outputs];
        for (int r = 0; r < outputs; r++) {
            for (double w : matrix[0][r]) {
                norm[r] += Math.abs(w);
            }
        }
        Integer[] order = new Integer[outputs];
        for (int i = 0; i < outputs; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (a, b) -> Double.compare(norm[a], norm[b]));
        return order;
    }

    /**
     * Removes the channels {@code removed} (sorted) of the plan's producer; returns the model, its kept
     * channels being {@code kept} (sorted).
     */
    OnnxModel apply(Plan plan, int[] kept, boolean foldConstants) {
        GraphEditor editor = GraphEditor.of(model.graph());
        WeightLayer producer = plan.producer();
        Tensor weight = model.initializer(producer.weightName).orElseThrow();
        int axis = producer.kind == WeightLayer.Kind.CONV || producer.transposed ? 0 : 1;
        editor.putInitializer(slice(weight, axis, kept).toProto(producer.weightName));
        float[] bias = null;
        if (producer.biasName != null) {
            Tensor b = model.initializer(producer.biasName).orElseThrow();
            bias = b.toFloatArray();
            editor.putInitializer(slice(b, 0, kept).toProto(producer.biasName));
        }
        for (NodeProto node : plan.perChannel()) {
            if (node.getOpType().equals("BatchNormalization")) {
                for (int i = 1; i < 5; i++) {
                    Tensor t = model.initializer(node.getInput(i)).orElseThrow();
                    editor.putInitializer(slice(t, 0, kept).toProto(node.getInput(i)));
                }
            } else if (node.getOpType().equals("Conv")) { // depthwise: its filters go with their channels
                for (int i = 1; i < node.getInputCount(); i++) {
                    if (!node.getInput(i).isEmpty()) {
                        Tensor t = model.initializer(node.getInput(i)).orElseThrow();
                        editor.putInitializer(slice(t, 0, kept).toProto(node.getInput(i)));
                    }
                }
                NodeHandle current = editor.producer(node.getOutput(0)).orElseThrow();
                NodeProto.Builder b = editor.node(current).toBuilder();
                for (int a = 0; a < b.getAttributeCount(); a++) {
                    if (b.getAttribute(a).getName().equals("group")) {
                        b.setAttribute(a, b.getAttribute(a).toBuilder().setI(kept.length));
                    }
                }
                editor.set(current, b.build());
            }
        }
        Set<Integer> keptSet = new HashSet<>();
        for (int k : kept) {
            keptSet.add(k);
        }
        for (Reader reader : plan.readers()) {
            WeightLayer layer = reader.layer();
            Tensor w = model.initializer(layer.weightName).orElseThrow();
            int inputAxis = layer.kind == WeightLayer.Kind.CONV || layer.transposed ? 1 : 0;
            int[] keptInputs = new int[kept.length * reader.spatial()];
            for (int i = 0; i < kept.length; i++) {
                for (int s = 0; s < reader.spatial(); s++) {
                    keptInputs[i * reader.spatial() + s] = kept[i] * reader.spatial() + s;
                }
            }
            editor.putInitializer(slice(w, inputAxis, keptInputs).toProto(layer.weightName));
            if (foldConstants && layer.kind != WeightLayer.Kind.MATMUL) {
                foldRemoved(editor, plan, reader, w, bias, keptSet);
            }
        }
        GraphProto.Builder graph = editor.graph();
        for (int i = graph.getValueInfoCount() - 1; i >= 0; i--) {
            if (plan.values().contains(graph.getValueInfo(i).getName())) {
                graph.removeValueInfo(i); // its channel count changed; ONNX Runtime infers it again
            }
        }
        return model.withGraph(editor.build());
    }

    /**
     * Adds what the removed channels contributed to {@code reader} to its bias: each removed channel
     * outputs a constant (its bias through the per-channel operators), times the sum of the reader's
     * weights over that channel. Exact for Gemm; for convolutions exact away from padded borders.
     */
    private void foldRemoved(GraphEditor editor, Plan plan, Reader reader, Tensor w, float[] producerBias,
                             Set<Integer> kept) {
        WeightLayer layer = reader.layer();
        int channels = plan.producer().outputs();
        double[] constant = new double[channels];
        boolean any = false;
        for (int ch = 0; ch < channels; ch++) {
            if (kept.contains(ch)) {
                continue;
            }
            double c = producerBias == null ? 0 : producerBias[ch];
            for (NodeProto node : reader.path()) {
                c = through(node, ch, c);
            }
            constant[ch] = c;
            any |= c != 0;
        }
        if (!any) {
            return;
        }
        double[][][] m = layer.matrix(w);
        int outputs = layer.rows;
        double[] add = new double[outputs];
        for (int r = 0; r < outputs; r++) {
            for (int j = 0; j < layer.columns; j++) {
                int ch = layer.kind == WeightLayer.Kind.CONV ? j % layer.channelsPerGroup : j / reader.spatial();
                if (!kept.contains(ch)) {
                    add[r] += constant[ch] * m[0][r][j];
                }
            }
        }
        if (layer.kind == WeightLayer.Kind.GEMM && OnnxHelper.getFloat(layer.node, "beta", 1f) == 0) {
            return; // C does not reach the output
        }
        double scale = LayerBias.scale(layer);
        float[] bias = LayerBias.values(layer, model);
        for (int r = 0; r < outputs; r++) {
            bias[r] += (float) (add[r] * scale);
        }
        LayerBias.put(editor, layer, bias);
    }

    /** The constant {@code c} of channel {@code ch} after {@code node}. */
    private double through(NodeProto node, int ch, double c) {
        switch (node.getOpType()) {
            case "Relu":
                return Math.max(0, c);
            case "LeakyRelu":
                return c < 0 ? OnnxHelper.getFloat(node, "alpha", 0.01f) * c : c;
            case "Sigmoid":
                return 1 / (1 + Math.exp(-c));
            case "Tanh":
                return Math.tanh(c);
            case "Clip": {
                double lo = node.getInputCount() > 1 && !node.getInput(1).isEmpty()
                        ? model.initializer(node.getInput(1)).orElseThrow().getDouble(0)
                        : OnnxHelper.getFloat(node, "min", -Float.MAX_VALUE);
                double hi = node.getInputCount() > 2 && !node.getInput(2).isEmpty()
                        ? model.initializer(node.getInput(2)).orElseThrow().getDouble(0)
                        : OnnxHelper.getFloat(node, "max", Float.MAX_VALUE);
                return Math.min(hi, Math.max(lo, c));
            }
            case "BatchNormalization": {
                double scale = model.initializer(node.getInput(1)).orElseThrow().getDouble(ch);
                double shift = model.initializer(node.getInput(2)).orElseThrow().getDouble(ch);
                double mean = model.initializer(node.getInput(3)).orElseThrow().getDouble(ch);
                double var = model.initializer(node.getInput(4)).orElseThrow().getDouble(ch);
                double eps = OnnxHelper.getFloat(node, "epsilon", 1e-5f);
                return scale * (c - mean) / Math.sqrt(var + eps) + shift;
            }
            case "Conv": { // depthwise: the constant times the sum of the channel's filter, plus its bias
                Tensor w = model.initializer(node.getInput(1)).orElseThrow();
                long size = w.elementCount() / w.dim(0);
                double sum = 0;
                for (long i = 0; i < size; i++) {
                    sum += w.getDouble(ch * size + i);
                }
                double bias = node.getInputCount() > 2 && !node.getInput(2).isEmpty()
                        ? model.initializer(node.getInput(2)).orElseThrow().getDouble(ch) : 0;
                return c * sum + bias;
            }
            default:
                return c; // identity and pooling keep a constant
        }
    }

    /** {@code t} with only the indices {@code keep} of {@code axis}. */
    static Tensor slice(Tensor t, int axis, int[] keep) {
        long[] shape = t.shape();
        double[] values = t.toDoubleArray();
        long inner = 1;
        for (int d = axis + 1; d < shape.length; d++) {
            inner *= shape[d];
        }
        long outer = 1;
        for (int d = 0; d < axis; d++) {
            outer *= shape[d];
        }
        long[] newShape = shape.clone();
        newShape[axis] = keep.length;
        double[] out = new double[(int) (outer * keep.length * inner)];
        int i = 0;
        for (long o = 0; o < outer; o++) {
            for (int k : keep) {
                long base = (o * shape[axis] + k) * inner;
                for (long e = 0; e < inner; e++) {
                    out[i++] = values[(int) (base + e)];
                }
            }
        }
        return Tensor.fromDoubles(t.type(), newShape, out);
    }
}
