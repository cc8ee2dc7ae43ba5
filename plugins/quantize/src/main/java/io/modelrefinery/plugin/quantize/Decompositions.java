package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;

/**
 * The decompositions of {@link QuantOps}: operators with no integer kernel in ONNX Runtime rewritten, before
 * static quantization plans its QDQ groups, into operators that have one and compute the same function. Left
 * whole, such an operator runs float between a DequantizeLinear and a QuantizeLinear, and on a small network
 * (MobileNetV3's 28 HardSwish and HardSigmoid) those conversions cost what the integer convolutions save.
 */
final class Decompositions {
    /**
     * The rewritten model.
     *
     * @param model the model, the same instance when nothing was rewritten
     * @param nodes names of the nodes that replaced the decomposed ones: quantized whatever the op-types
     * @param derived tensors whose range follows from a tensor of the original model's: the new ones between the
     *     parts, and HardSwish's output
     * @param count operators decomposed
     */
    record Result(OnnxModel model, Set<String> nodes, Map<String, DerivedRanges.Derived> derived, int count) {
    }

    /**
     * What replaces one operator.
     *
     * @param nodes the operators, computing the same function
     * @param derived tensors whose range follows from the operator's input's, by name: the new ones between the
     *     operators, and a HardSwish's own output
     */
    record Parts(List<NodeProto> nodes, Map<String, DerivedRanges.Derived> derived) {
    }

    private Decompositions() {
    }

    /** Decomposes every node that has a decomposition and that {@code wanted} accepts. */
    static Result apply(OnnxModel model, Predicate<NodeProto> wanted) {
        GraphEditor editor = GraphEditor.of(model.graph());
        Set<String> names = new LinkedHashSet<>();
        Map<String, DerivedRanges.Derived> derived = new LinkedHashMap<>();
        int count = 0;
        for (NodeProto node : List.copyOf(editor.nodes())) {
            Optional<QuantOps.Decomposition> decomposition = QuantOps.handler(node).decomposition();
            if (decomposition.isEmpty() || !wanted.test(node)) {
                continue;
            }
            Optional<Parts> parts = decomposition.get().decompose(editor, node);
            if (parts.isPresent()) {
                editor.replaceNode(node, parts.get().nodes());
                parts.get().nodes().forEach(part -> names.add(part.getName()));
                derived.putAll(parts.get().derived());
                count++;
            }
        }
        return count == 0 ? new Result(model, Set.of(), Map.of(), 0)
                : new Result(model.withGraph(editor.build()), names, derived, count);
    }

    /**
     * {@code HardSigmoid(x) = max(0, min(1, alpha x + beta))} as {@code alpha * Clip(x + beta / alpha, 0, 1 / alpha)}
     * (alpha above zero): a QLinearAdd whose output range absorbs the Clip, then a QLinearMul by a constant.
     */
    static Optional<Parts> hardSigmoid(GraphEditor editor, NodeProto node) {
        float alpha = OnnxHelper.getFloat(node, "alpha", 0.2f);
        float beta = OnnxHelper.getFloat(node, "beta", 0.5f);
        if (!(alpha > 0) || !Float.isFinite(beta / alpha) || node.getInputCount() != 1 || node.getOutputCount() != 1) {
            return Optional.empty();
        }
        return Optional.of(gate(editor, base(node), node.getInput(0), alpha, beta, node.getOutput(0), false));
    }

    /**
     * {@code HardSwish(x) = x * HardSigmoid(x)} with alpha 1/6 and beta 1/2, as ONNX defines it: the gate as for
     * HardSigmoid, then a QLinearMul of the input by the gate.
     */
    static Optional<Parts> hardSwish(GraphEditor editor, NodeProto node) {
        if (node.getInputCount() != 1 || node.getOutputCount() != 1) {
            return Optional.empty();
        }
        String base = base(node);
        String x = node.getInput(0);
        String gate = editor.freshName(base + "_gate");
        Parts parts = gate(editor, base, x, 1f / 6, 0.5f, gate, true);
        List<NodeProto> nodes = new ArrayList<>(parts.nodes());
        nodes.add(named(editor, base + "/Mul", OnnxHelper.node("Mul", List.of(x, gate), List.of(node.getOutput(0)))));
        Map<String, DerivedRanges.Derived> derived = new LinkedHashMap<>(parts.derived());
        derived.put(node.getOutput(0), new DerivedRanges.Dip(x, DerivedRanges.Activation.HARD_SWISH));
        return Optional.of(new Parts(nodes, derived));
    }

    /**
     * {@code alpha * Clip(x + beta / alpha, 0, 1 / alpha)} into {@code out}; {@code outIsNew} when {@code out} is
     * not a tensor of the original model, so that its range is derived too.
     */
    private static Parts gate(GraphEditor editor, String base, String x, float alpha, float beta, String out,
                              boolean outIsNew) {
        float shiftValue = beta / alpha;
        float highValue = 1 / alpha;
        String shift = constant(editor, base + "_shift", shiftValue);
        String low = constant(editor, base + "_low", 0f);
        String high = constant(editor, base + "_high", highValue);
        String slope = constant(editor, base + "_slope", alpha);
        String shifted = editor.freshName(base + "_shifted");
        String clipped = editor.freshName(base + "_clipped");
        Map<String, DerivedRanges.Derived> derived = new LinkedHashMap<>();
        derived.put(shifted, new DerivedRanges.Gate(x, shiftValue, Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, 1));
        derived.put(clipped, new DerivedRanges.Gate(x, shiftValue, 0, highValue, 1));
        if (outIsNew) {
            derived.put(out, new DerivedRanges.Gate(x, shiftValue, 0, highValue, alpha));
        }
        return new Parts(List.of(
                named(editor, base + "/Add", OnnxHelper.node("Add", List.of(x, shift), List.of(shifted))),
                named(editor, base + "/Clip", OnnxHelper.node("Clip", List.of(shifted, low, high), List.of(clipped))),
                named(editor, base + "/Slope", OnnxHelper.node("Mul", List.of(clipped, slope), List.of(out)))),
                derived);
    }

    private static String base(NodeProto node) {
        return node.getName().isEmpty() ? node.getOutput(0) : node.getName();
    }

    private static String constant(GraphEditor editor, String base, float value) {
        String name = editor.freshName(base);
        editor.putInitializer(Tensor.scalar(value).toProto(name));
        return name;
    }

    private static NodeProto named(GraphEditor editor, String name, NodeProto node) {
        return node.toBuilder().setName(editor.freshName(name)).build();
    }
}
