package io.modelrefinery.api.train;

import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.HashSet;
import java.util.Set;

/**
 * How to differentiate one operator type: given the gradients of a node's outputs, emit ONNX nodes that
 * compute the gradients of its inputs. Rules are stateless and registered in {@link GradientRules}.
 */
public interface GradientRule {

    /**
     * The input positions a gradient flows into; the others (shapes, axes, running statistics) are
     * treated as constants. The default is every input.
     */
    default Set<Integer> differentiableInputs(NodeProto node) {
        Set<Integer> all = new HashSet<>();
        for (int i = 0; i < node.getInputCount(); i++) {
            all.add(i);
        }
        return all;
    }

    /**
     * Emits the backward nodes of {@link GradientContext#node()} and sets the gradient of every input
     * for which {@link GradientContext#needsGradient(int)} is true.
     *
     * @throws io.modelrefinery.api.onnx.InvalidModelException if the node uses a form the rule cannot
     *     differentiate (the message names the node and the attribute)
     */
    void backward(GradientContext context);
}
