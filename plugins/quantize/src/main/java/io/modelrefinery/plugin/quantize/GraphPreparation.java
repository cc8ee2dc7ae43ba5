package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;

import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Puts a float graph in the shape both quantizers expect, without changing what it computes:
 *
 * <ul>
 *   <li>{@code Constant} nodes become initializers, so that Clip bounds, shapes and weights written as
 *       nodes (PyTorch's exporter writes most constants that way) are seen as constants;</li>
 *   <li>{@code Identity} nodes over a constant are bypassed: PyTorch merges equal initializers (the zero
 *       biases of MobileNetV3 and EfficientNet) and feeds the copies through Identity nodes;</li>
 *   <li>a {@code BatchNormalization} after a convolution is folded into its weights and bias, so that the
 *       pair becomes one integer convolution instead of two operators with a quantization between.</li>
 * </ul>
 */
final class GraphPreparation {
    /** What was done, for the step's metrics. */
    record Result(OnnxModel model, int foldedBatchNorms, int bypassedIdentities, int constantNodes) {
    }

    private GraphPreparation() {
    }

    static Result prepare(OnnxModel model) {
        GraphEditor editor = GraphEditor.of(model.graph());
        int constants = constantNodesToInitializers(editor);
        int identities = bypassConstantIdentities(editor);
        OnnxModel plain = model.withGraph(editor.build());
        Folded folded = foldBatchNorms(plain);
        return new Result(folded.model, folded.count, identities, constants);
    }

    private static int constantNodesToInitializers(GraphEditor editor) {
        Set<String> outputs = graphOutputs(editor);
        int count = 0;
        for (NodeProto node : editor.nodes()) {
            if (!node.getOpType().equals("Constant") || !node.getDomain().isEmpty() || node.getOutputCount() != 1
                    || outputs.contains(node.getOutput(0))) {
                continue;
            }
            Optional<TensorProto> value = constantValue(node);
            if (value.isPresent()) {
                editor.putInitializer(value.get().toBuilder().setName(node.getOutput(0)).build());
                editor.removeNode(node);
                count++;
            }
        }
        return count;
    }

    /** The value of a Constant node as a tensor, for the attribute forms that hold numbers. */
    private static Optional<TensorProto> constantValue(NodeProto node) {
        if (node.getAttributeCount() != 1) {
            return Optional.empty();
        }
        AttributeProto a = node.getAttribute(0);
        String out = node.getOutput(0);
        return switch (a.getName()) {
            case "value" -> a.hasT() ? Optional.of(a.getT()) : Optional.empty();
            case "value_float" -> Optional.of(Tensor.ofFloats(new long[0], a.getF()).toProto(out));
            case "value_floats" -> Optional.of(Tensor.ofFloats(new long[] {a.getFloatsCount()},
                    toFloats(a.getFloatsList())).toProto(out));
            case "value_int" -> Optional.of(Tensor.ofLongs(new long[0], a.getI()).toProto(out));
            case "value_ints" -> Optional.of(Tensor.ofLongs(new long[] {a.getIntsCount()},
                    a.getIntsList().stream().mapToLong(Long::longValue).toArray()).toProto(out));
            default -> Optional.empty();
        };
    }

    private static float[] toFloats(List<Float> values) {
        float[] out = new float[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = values.get(i);
        }
        return out;
    }

    private static int bypassConstantIdentities(GraphEditor editor) {
        Set<String> initializers = new HashSet<>();
        editor.graph().getInitializerList().forEach(t -> initializers.add(t.getName()));
        Set<String> outputs = graphOutputs(editor);
        int count = 0;
        // Graph order: an Identity of an Identity of a constant reads the constant once the first is bypassed.
        for (NodeProto node : GraphIndex.of(editor.build()).topologicalOrder()) {
            if (node.getOpType().equals("Identity") && node.getDomain().isEmpty() && node.getInputCount() == 1
                    && initializers.contains(node.getInput(0)) && !outputs.contains(node.getOutput(0))) {
                editor.removeNode(node);
                editor.replaceUses(node.getOutput(0), node.getInput(0));
                count++;
            }
        }
        return count;
    }

    private record Folded(OnnxModel model, int count) {
    }

    private static Folded foldBatchNorms(OnnxModel model) {
        GraphIndex index = GraphIndex.of(model.graph());
        GraphEditor editor = GraphEditor.of(model.graph());
        Set<String> replaced = new HashSet<>();
        int count = 0;
        for (NodeProto bn : index.topologicalOrder()) {
            if (!bn.getOpType().equals("BatchNormalization") || !bn.getDomain().isEmpty() || bn.getOutputCount() != 1
                    || bn.getInputCount() != 5 || OnnxHelper.getInt(bn, "training_mode", 0) != 0) {
                continue;
            }
            Optional<NodeProto> conv = index.producer(bn.getInput(0)).filter(p -> p.getOpType().equals("Conv")
                    && p.getDomain().isEmpty() && index.consumers(bn.getInput(0)).size() == 1
                    && !index.isGraphOutput(bn.getInput(0)));
            if (conv.isEmpty()) {
                continue;
            }
            Optional<NodeProto> folded = fold(model, index, editor, conv.get(), bn);
            if (folded.isPresent()) {
                editor.removeNode(bn);
                editor.replaceNode(conv.get(), folded.get());
                replaced.add(conv.get().getInput(1));
                if (conv.get().getInputCount() > 2) {
                    replaced.add(conv.get().getInput(2));
                }
                for (int i = 1; i < 5; i++) {
                    replaced.add(bn.getInput(i));
                }
                count++;
            }
        }
        removeUnused(editor, replaced);
        return new Folded(count == 0 ? model : model.withGraph(editor.build()), count);
    }

    /**
     * {@code w' = w * g / sqrt(v + eps)} per output channel and {@code b' = (b - m) * g / sqrt(v + eps) + beta},
     * as new initializers (the old ones may feed other nodes), or empty when a parameter is not a float constant
     * of the expected shape.
     */
    private static Optional<NodeProto> fold(OnnxModel model, GraphIndex index, GraphEditor editor, NodeProto conv,
                                            NodeProto bn) {
        Optional<Tensor> weight = floatConstant(model, index, conv.getInput(1));
        Optional<Tensor> bias = conv.getInputCount() > 2 && !conv.getInput(2).isEmpty()
                ? floatConstant(model, index, conv.getInput(2)) : Optional.of(Tensor.ofFloats(new long[] {0}));
        if (weight.isEmpty() || bias.isEmpty() || weight.get().rank() < 3) {
            return Optional.empty();
        }
        int channels = (int) weight.get().dim(0);
        float[][] p = new float[4][];
        for (int i = 0; i < 4; i++) {
            Optional<Tensor> t = floatConstant(model, index, bn.getInput(i + 1));
            if (t.isEmpty() || t.get().elementCount() != channels) {
                return Optional.empty();
            }
            p[i] = t.get().toFloatArray();
        }
        float[] b = bias.get().elementCount() == channels ? bias.get().toFloatArray() : new float[channels];
        if (bias.get().elementCount() != channels && bias.get().elementCount() != 0) {
            return Optional.empty();
        }
        double epsilon = OnnxHelper.getFloat(bn, "epsilon", 1e-5f);
        float[] w = weight.get().toFloatArray();
        int perChannel = w.length / channels;
        float[] foldedBias = new float[channels];
        for (int c = 0; c < channels; c++) {
            double factor = p[0][c] / Math.sqrt(p[3][c] + epsilon);
            for (int i = c * perChannel; i < (c + 1) * perChannel; i++) {
                w[i] = (float) (w[i] * factor);
            }
            foldedBias[c] = (float) ((b[c] - p[2][c]) * factor + p[1][c]);
        }
        String base = conv.getName().isEmpty() ? conv.getOutput(0) : conv.getName();
        String weightName = editor.freshName(base + "_folded_weight");
        String biasName = editor.freshName(base + "_folded_bias");
        editor.putInitializer(Tensor.ofFloats(weight.get().shape(), w).toProto(weightName));
        editor.putInitializer(Tensor.ofFloats(new long[] {channels}, foldedBias).toProto(biasName));
        NodeProto.Builder folded = conv.toBuilder().clearInput().addInput(conv.getInput(0)).addInput(weightName)
                .addInput(biasName).setOutput(0, bn.getOutput(0));
        return Optional.of(folded.build());
    }

    /** The value of float initializer {@code name}, if it is one. */
    static Optional<Tensor> floatConstant(OnnxModel model, GraphIndex index, String name) {
        return index.initializer(name).filter(t -> t.getDataType() == DataType.FLOAT.code()).map(model::tensor);
    }

    /** Removes the initializers among {@code candidates} that no node reads any more. */
    static void removeUnused(GraphEditor editor, Set<String> candidates) {
        Set<String> read = new HashSet<>();
        for (NodeProto node : editor.nodes()) {
            read.addAll(GraphIndex.inputsIncludingSubgraphs(node));
        }
        graphOutputs(editor).forEach(read::add);
        for (String name : candidates) {
            if (!read.contains(name)) {
                editor.removeInitializer(name);
            }
        }
    }

    private static Set<String> graphOutputs(GraphEditor editor) {
        Set<String> outputs = new HashSet<>();
        editor.graph().getOutputList().forEach(v -> outputs.add(v.getName()));
        return outputs;
    }
}
