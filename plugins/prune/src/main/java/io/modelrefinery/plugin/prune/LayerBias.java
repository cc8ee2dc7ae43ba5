package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.NodeHandle;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.Arrays;

/**
 * A layer's bias as pruning rewrites it: read in units of the weights (so that it can sit as one more
 * weight column), written back, and added as a new input when the node had none.
 */
final class LayerBias {
    private LayerBias() {
    }

    /**
     * Whether the layer can carry a bias: convolutions always, Gemm unless {@code beta} is 0 or its C is
     * not a constant of ours. MatMul has no bias input.
     */
    static boolean present(WeightLayer layer) {
        return layer.kind == WeightLayer.Kind.CONV
                || (layer.kind == WeightLayer.Kind.GEMM && OnnxHelper.getFloat(layer.node, "beta", 1f) != 0
                && (layer.biasName != null || layer.node.getInputCount() < 3 || layer.node.getInput(2).isEmpty()));
    }

    /** {@code alpha / beta} of a Gemm, else 1: a change of the output in weight units times this is the bias's. */
    static double scale(WeightLayer layer) {
        if (layer.kind != WeightLayer.Kind.GEMM) {
            return 1;
        }
        return OnnxHelper.getFloat(layer.node, "alpha", 1f) / OnnxHelper.getFloat(layer.node, "beta", 1f);
    }

    /** The bias values, zeros when the node has none. */
    static float[] values(WeightLayer layer, OnnxModel model) {
        return layer.biasName == null ? new float[layer.outputs()]
                : model.initializer(layer.biasName).orElseThrow().toFloatArray();
    }

    /** The layer's weights per group and row, with the bias (in units of the weights) as last column if {@link #present}. */
    static double[][][] withBias(WeightLayer layer, OnnxModel model) {
        double[][][] m = layer.matrix(model.initializer(layer.weightName).orElseThrow());
        if (!present(layer)) {
            return m;
        }
        float[] bias = values(layer, model);
        double scale = scale(layer);
        for (int g = 0; g < m.length; g++) {
            for (int r = 0; r < m[g].length; r++) {
                double[] row = Arrays.copyOf(m[g][r], layer.columns + 1);
                row[layer.columns] = bias[g * layer.rows + r] / scale;
                m[g][r] = row;
            }
        }
        return m;
    }

    /** {@code model} with the layer's weights and, when {@code bias}, its bias from {@code solved}'s last column. */
    static OnnxModel write(OnnxModel model, WeightLayer layer, double[][][] solved, boolean bias) {
        GraphEditor editor = GraphEditor.of(model.graph());
        double[][][] weights = new double[layer.groups][layer.rows][];
        float[] b = new float[layer.outputs()];
        double scale = scale(layer);
        for (int g = 0; g < layer.groups; g++) {
            for (int r = 0; r < layer.rows; r++) {
                weights[g][r] = Arrays.copyOf(solved[g][r], layer.columns);
                if (bias) {
                    b[g * layer.rows + r] = (float) (solved[g][r][layer.columns] * scale);
                }
            }
        }
        editor.putInitializer(layer.tensor(weights).toProto(layer.weightName));
        if (bias) {
            put(editor, layer, b);
        }
        return model.withGraph(editor.build());
    }

    /** Sets the layer's bias to {@code values}, adding a bias input to its node when it had none. */
    static void put(GraphEditor editor, WeightLayer layer, float[] values) {
        String name = layer.biasName;
        if (name == null) {
            name = editor.freshName(layer.weightName + "_bias");
            // by handle: an earlier edit (another layer's bias, a pruned channel) may have rewritten the node
            NodeHandle node = editor.producer(layer.node.getOutput(0)).orElseThrow();
            NodeProto.Builder nb = editor.node(node).toBuilder();
            if (nb.getInputCount() < 3) {
                nb.addInput(name);
            } else {
                nb.setInput(2, name);
            }
            editor.set(node, nb.build());
        }
        editor.putInitializer(Tensor.ofFloats(new long[] {layer.outputs()}, values).toProto(name));
    }
}
