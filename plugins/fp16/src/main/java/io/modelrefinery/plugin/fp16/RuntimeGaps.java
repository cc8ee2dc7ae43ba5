package io.modelrefinery.plugin.fp16;

import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Nodes ONNX Runtime 1.28's CPU provider cannot compute in float16 although the operator's schema
 * allows it, found by running ONNX's conformance models and PyTorch exports through {@code fp16}:
 * they stay float32 behind casts, and the step's notes say which and why. Unlike the operator block
 * list, this is not the user's choice: a published model must run.
 */
final class RuntimeGaps {
    /** Operators whose float16 kernel is registered but refuses the data type when it runs. */
    private static final Map<String, String> NO_HALF_KERNEL = Map.of(
            "ScatterElements", "no float16 kernel with a reduction",
            "ScatterND", "no float16 kernel with a reduction");

    /** Operators ONNX Runtime expands into a function body whose constants stay float32. */
    private static final Map<String, String> FLOAT32_FUNCTION = Map.of(
            "MeanVarianceNormalization", "ONNX Runtime expands it with float32 constants");

    private final GraphIndex index;
    private final Map<String, Integer> kept = new TreeMap<>();
    private final Map<String, String> reasons = new TreeMap<>();

    RuntimeGaps(GraphIndex index) {
        this.index = index;
    }

    /** Whether {@code node} must stay float32; counts it when so. */
    boolean keepsFloat32(NodeProto node) {
        Optional<String> why = reason(node);
        why.ifPresent(r -> {
            kept.merge(node.getOpType(), 1, Integer::sum);
            reasons.put(node.getOpType(), r);
        });
        return why.isPresent();
    }

    private Optional<String> reason(NodeProto node) {
        String op = node.getOpType();
        if (FLOAT32_FUNCTION.containsKey(op)) {
            return Optional.of(FLOAT32_FUNCTION.get(op));
        }
        if (NO_HALF_KERNEL.containsKey(op) && !OnnxHelper.getString(node, "reduction", "none").equals("none")) {
            return Optional.of(NO_HALF_KERNEL.get(op));
        }
        if (op.equals("Transpose") && movesLeadingAxis(node) && feedsMatMul(node)) {
            // Seen with torch's nn.MultiheadAttention (sequence-first layout): ONNX Runtime's default
            // optimization level crashes the process creating a session over such float16 transposes.
            return Optional.of("a float16 Transpose that moves the leading axis into a MatMul crashes ONNX Runtime's "
                    + "default session optimizations");
        }
        return Optional.empty();
    }

    private static boolean movesLeadingAxis(NodeProto transpose) {
        List<Long> perm = OnnxHelper.getInts(transpose, "perm");
        return perm.isEmpty() || perm.get(0) != 0; // no perm reverses every axis
    }

    private boolean feedsMatMul(NodeProto node) {
        for (NodeProto consumer : index.consumers(node.getOutput(0))) {
            if (consumer.getOpType().equals("MatMul") || consumer.getOpType().equals("Gemm")) {
                return true;
            }
        }
        return false;
    }

    /** One note per operator kept float32, or none. */
    List<String> notes() {
        return kept.entrySet().stream().map(e -> e.getValue() + " " + e.getKey() + (e.getValue() == 1 ? " node" : " nodes")
                + " kept in float32 with casts around: " + reasons.get(e.getKey())).toList();
    }

    int keptNodes() {
        return kept.values().stream().mapToInt(Integer::intValue).sum();
    }
}
