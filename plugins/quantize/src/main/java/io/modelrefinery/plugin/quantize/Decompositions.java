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
    record Result(OnnxModel model, Set<String> nodes, Map<String, Derived> derived, int count) {
        /**
         * What to calibrate on the original model for the ranges of {@code tensors}: a derived tensor's source in
         * its place. The original model runs the operators whole (ONNX Runtime fuses HardSwish and HardSigmoid
         * into the convolutions before them), and the ranges of the parts follow from their input's.
         */
        Set<String> sources(Set<String> tensors) {
            Set<String> sources = new LinkedHashSet<>();
            tensors.forEach(t -> sources.add(derived.containsKey(t) ? derived.get(t).source() : t));
            return sources;
        }

        /** The ranges of {@code tensors}, from {@code measured} ranges of their {@link #sources}. */
        Map<String, TensorRange> ranges(Set<String> tensors, Map<String, TensorRange> measured) {
            Map<String, TensorRange> ranges = new LinkedHashMap<>();
            for (String t : tensors) {
                Derived d = derived.get(t);
                TensorRange source = measured.get(d == null ? t : d.source());
                if (source != null) {
                    ranges.put(t, d == null ? source : d.of(source));
                }
            }
            return ranges;
        }
    }

    /** A tensor whose range follows from the range of {@code source}, a tensor of the original model. */
    sealed interface Derived {
        String source();

        TensorRange of(TensorRange range);
    }

    /**
     * A tensor {@code factor * Clip(source + shift, low, high)}, factor above zero: a non-decreasing function, so
     * its extremes over the samples are the function of its source's, as min-max would measure them.
     */
    record Gate(String source, float shift, float low, float high, float factor) implements Derived {
        @Override
        public TensorRange of(TensorRange range) {
            return new TensorRange(at(range.min()), at(range.max()));
        }

        private double at(double x) {
            return factor * Math.min(high, Math.max(low, x + shift));
        }
    }

    /**
     * HardSwish's output, {@code x * Clip(x + 3, 0, 6) / 6}: falling to its minimum -0.375 at -1.5, rising after.
     * Its largest value over the samples is the larger at the source's two ends, exactly; its smallest is taken as
     * -0.375 when the source's range spans -1.5 (a sample's may lie a hair above it). Calibrating it would cost a
     * copy of every such tensor out of ONNX Runtime's blocked layout (MobileNetV3-large: calibration 2.2x to 3.0x
     * one pass with it, 1.8x to 2.1x without).
     */
    record HardSwishOutput(String source) implements Derived {
        private static final double BEND = -1.5;

        @Override
        public TensorRange of(TensorRange range) {
            double low = range.min() <= BEND && range.max() >= BEND ? at(BEND)
                    : Math.min(at(range.min()), at(range.max()));
            return new TensorRange(low, Math.max(at(range.min()), at(range.max())));
        }

        private static double at(double x) {
            return x * Math.min(6, Math.max(0, x + 3)) / 6;
        }
    }

    /**
     * What replaces one operator.
     *
     * @param nodes the operators, computing the same function
     * @param derived the new tensors between them, by name
     */
    record Parts(List<NodeProto> nodes, Map<String, Derived> derived) {
    }

    private Decompositions() {
    }

    /** Decomposes every node that has a decomposition and that {@code wanted} accepts. */
    static Result apply(OnnxModel model, Predicate<NodeProto> wanted) {
        GraphEditor editor = GraphEditor.of(model.graph());
        Set<String> names = new LinkedHashSet<>();
        Map<String, Derived> derived = new LinkedHashMap<>();
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
        Map<String, Derived> derived = new LinkedHashMap<>(parts.derived());
        derived.put(node.getOutput(0), new HardSwishOutput(x));
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
        Map<String, Derived> derived = new LinkedHashMap<>();
        derived.put(shifted, new Gate(x, shiftValue, Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, 1));
        derived.put(clipped, new Gate(x, shiftValue, 0, highValue, 1));
        if (outIsNew) {
            derived.put(out, new Gate(x, shiftValue, 0, highValue, alpha));
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
        editor.putInitializer(Tensor.ofFloats(new long[0], value).toProto(name));
        return name;
    }

    private static NodeProto named(GraphEditor editor, String name, NodeProto node) {
        return node.toBuilder().setName(editor.freshName(name)).build();
    }
}
