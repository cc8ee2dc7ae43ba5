package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Which tensors of a graph can never be negative, from the operators that write them: a ReLU, a Clip whose lower
 * bound is a constant at or above zero, a sigmoid, or pooling and reshaping of such a tensor. Their lower range
 * end is zero whatever the samples (an activation range always includes zero), so calibration measures only
 * their maximum.
 */
final class NonNegativeTensors {
    /** Write a value in [0, 1] or [0, inf) whatever their input. */
    private static final Set<String> NON_NEGATIVE = Set.of("Relu", "Sigmoid", "HardSigmoid", "Softmax", "Abs");
    /** Keep the sign of their first input: never negative when it is not. */
    private static final Set<String> SIGN_KEEPING = Set.of("MaxPool", "AveragePool", "GlobalAveragePool",
            "GlobalMaxPool", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity");

    private final OnnxModel model;
    private final GraphIndex index;
    private final Map<String, Boolean> known = new HashMap<>();

    NonNegativeTensors(OnnxModel model) {
        this.model = model;
        this.index = GraphIndex.of(model.graph());
    }

    boolean contains(String tensor) {
        Boolean cached = known.get(tensor);
        if (cached != null) {
            return cached;
        }
        known.put(tensor, false); // a cycle, which a valid graph has not, ends as "may be negative"
        boolean result = index.producer(tensor).map(this::writesNonNegative).orElse(false);
        known.put(tensor, result);
        return result;
    }

    private boolean writesNonNegative(NodeProto node) {
        if (!node.getDomain().isEmpty() || node.getOutputCount() != 1) {
            return false;
        }
        String op = node.getOpType();
        if (NON_NEGATIVE.contains(op)) {
            return true;
        }
        if (SIGN_KEEPING.contains(op)) {
            return contains(node.getInput(0));
        }
        if (op.equals("Clip")) {
            return node.getInputCount() > 1 && constant(node.getInput(1)).map(low -> low >= 0).orElse(false)
                    || contains(node.getInput(0));
        }
        return false;
    }

    private Optional<Float> constant(String name) {
        return GraphPreparation.floatConstant(model, index, name).filter(t -> t.elementCount() == 1)
                .map(t -> t.toFloatArray()[0]);
    }
}
