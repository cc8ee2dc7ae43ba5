package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Finds the weights {@code quantize-weights} can store block-quantized: MatMul and Gemm whose B is a 2-D
 * float32 constant, and Gather from a 2-D float32 constant table along axis 0. What it passes over is kept
 * by reason, for the step's notes; MatMuls of two computed values (attention scores) are not weights and are
 * passed over silently.
 */
final class WeightLayers {
    private final OnnxModel model;
    private final GraphIndex index;
    private final Set<String> excluded;
    private final boolean embeddings;
    private final Map<String, List<String>> skipped = new LinkedHashMap<>();

    WeightLayers(OnnxModel model, Set<String> excluded, boolean embeddings) {
        this.model = model;
        this.index = GraphIndex.of(model.graph());
        this.excluded = excluded;
        this.embeddings = embeddings;
    }

    /** The quantizable nodes, in graph order, and a bias initializer to add for each Gemm with C. */
    List<WeightLayer> find(GraphEditor editor) {
        List<WeightLayer> layers = new ArrayList<>();
        for (NodeProto node : index.topologicalOrder()) {
            if (!node.getDomain().isEmpty()) {
                continue;
            }
            String type = node.getOpType();
            if (!type.equals("MatMul") && !type.equals("Gemm") && !(embeddings && type.equals("Gather"))) {
                continue;
            }
            String weightName = node.getInput(type.equals("Gather") ? 0 : 1);
            Optional<TensorProto> weight = index.initializer(weightName);
            if (weight.isEmpty()) {
                if (index.producer(weightName).filter(p -> p.getOpType().equals("Transpose")).map(p -> p.getInput(0))
                        .filter(index::isInitializer).isPresent()) {
                    skip(node, "weight transposed at run time (fold constants first: the optimize transform)");
                }
                continue;
            }
            if (excluded.contains(node.getName())) {
                skip(node, "in exclude-nodes");
                continue;
            }
            TensorProto w = weight.get();
            if (w.getDataType() != DataType.FLOAT.code()) {
                skip(node, "weight is " + DataType.require(w.getDataType(), weightName) + "; only float32 weights are quantized");
                continue;
            }
            if (w.getDimsCount() != 2) {
                skip(node, "weight of rank " + w.getDimsCount() + "; only 2-D weights are quantized");
                continue;
            }
            if (w.getDims(0) == 0 || w.getDims(1) == 0) {
                skip(node, "weight '" + weightName + "' of shape [" + w.getDims(0) + ", " + w.getDims(1) + "] has no values");
                continue;
            }
            int d0 = (int) w.getDims(0);
            int d1 = (int) w.getDims(1);
            float[] values = model.tensor(w).toFloatArray();
            switch (type) {
                case "MatMul" -> layers.add(new WeightLayer(WeightLayer.Kind.MATMUL, node, weightName, node.getInput(0),
                        d1, d0, BlockRounding.transpose(values, d0, d1), null));
                case "Gemm" -> gemm(node, weightName, d0, d1, values, editor).ifPresent(layers::add);
                default -> {
                    if (OnnxHelper.getInt(node, "axis", 0) != 0) {
                        skip(node, "gathers along axis " + OnnxHelper.getInt(node, "axis", 0) + ", not rows");
                    } else {
                        layers.add(new WeightLayer(WeightLayer.Kind.GATHER, node, weightName, null, d0, d1, values, null));
                    }
                }
            }
        }
        return layers;
    }

    /** Gemm as MatMul plus Add: alpha folded into the weight, beta into a constant C. */
    private Optional<WeightLayer> gemm(NodeProto node, String weightName, int d0, int d1, float[] values,
                                       GraphEditor editor) {
        if (OnnxHelper.getInt(node, "transA", 0) != 0) {
            return skip(node, "Gemm with transA=1");
        }
        boolean transB = OnnxHelper.getInt(node, "transB", 0) != 0;
        float alpha = OnnxHelper.getFloat(node, "alpha", 1f);
        float beta = OnnxHelper.getFloat(node, "beta", 1f);
        String bias = node.getInputCount() > 2 && !node.getInput(2).isEmpty() ? node.getInput(2) : null;
        if (bias != null && beta != 1f) {
            Optional<TensorProto> c = index.initializer(bias);
            if (c.isEmpty()) {
                return skip(node, "Gemm with beta=" + beta + " and a computed C");
            }
            Tensor scaled = model.tensor(c.get());
            float[] cv = scaled.toFloatArray();
            for (int i = 0; i < cv.length; i++) {
                cv[i] *= beta;
            }
            bias = editor.freshName(bias + "_beta");
            editor.putInitializer(Tensor.ofFloats(scaled.shape(), cv).toProto(bias));
        }
        float[] rows = transB ? values : BlockRounding.transpose(values, d0, d1);
        if (alpha != 1f) {
            rows = rows.clone();
            for (int i = 0; i < rows.length; i++) {
                rows[i] *= alpha;
            }
        }
        return Optional.of(new WeightLayer(WeightLayer.Kind.GEMM, node, weightName, node.getInput(0),
                transB ? d0 : d1, transB ? d1 : d0, rows, bias));
    }

    private Optional<WeightLayer> skip(NodeProto node, String reason) {
        skipped.computeIfAbsent(reason, k -> new ArrayList<>()).add(GraphIndex.describe(node));
        return Optional.empty();
    }

    /** What was left float and why, one line per reason. */
    List<String> skippedNotes() {
        List<String> notes = new ArrayList<>();
        skipped.forEach((reason, nodes) -> notes.add("left float: " + (nodes.size() <= 3 ? String.join(", ", nodes)
                : nodes.size() + " nodes (" + String.join(", ", nodes.subList(0, 2)) + ", ...)") + ": " + reason));
        return notes;
    }
}
