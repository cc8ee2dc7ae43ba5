package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;
import io.modelrefinery.api.plugin.TransformException;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * Static quantization in QDQ form, shaped so that ONNX Runtime runs it on integer kernels: every activation
 * that a quantized node reads or writes gets one QuantizeLinear/DequantizeLinear pair, and every reader of
 * the tensor (quantized or not) reads the DequantizeLinear, so that each producer is followed by its Q alone
 * and fuses with it (QLinearConv, QGemm, QLinearAdd...). Weights are stored 8-bit behind a DequantizeLinear
 * (per output channel), biases int32. ReLU and Clip after a quantized operator disappear into the
 * quantization of its output. Operators that only move values (reshapes, max pooling) are quantized only
 * when their input is, with their input's parameters, so that ONNX Runtime drops their Q/DQ pairs. A Mul of a
 * quantized tensor by a positive scalar does not run at all: its readers dequantize the input's integers with
 * the scale times the scalar.
 */
final class QdqQuantizer {
    /**
     * Options.
     *
     * @param activationType uint8 or int8 activations
     * @param symmetricActivations activation zero points in the middle of the range
     * @param perChannel one weight scale per output channel
     * @param reduceRange 7-bit weights
     * @param includeOps operator types to quantize
     * @param includeNodes node names quantized whatever their type: the parts of a decomposed operator
     * @param excludeNodes node names left float
     */
    record Settings(QuantType activationType, boolean symmetricActivations, boolean perChannel, boolean reduceRange,
                    Set<String> includeOps, Set<String> includeNodes, Set<String> excludeNodes) {
    }

    /** The plan before calibration: which nodes are quantized and which tensors need ranges. */
    static final class Plan {
        /** Nodes in QDQ form, in graph order (removed activations not among them). */
        final List<NodeProto> quantized = new ArrayList<>();
        /** Activation tensors to calibrate. */
        final Set<String> calibrate = new LinkedHashSet<>();
        /** ReLU/Clip nodes that disappear: their input tensor becomes their output. */
        final Map<NodeProto, String> removedActivations = new LinkedHashMap<>();
        /**
         * Multiplications of a quantized tensor by a positive scalar constant, by output: they disappear, and
         * their readers dequantize the input's integers with the scale times the constant.
         */
        final Map<String, Rescaling> rescalings = new LinkedHashMap<>();
        /** Float operators between quantized tensors, by type, for the step's notes. */
        final Map<String, Integer> floatNeighbours = new TreeMap<>();

        boolean isEmpty() {
            return quantized.isEmpty();
        }
    }

    /** A removed Mul: {@code output = factor * input}, both quantized with one set of integers. */
    record Rescaling(NodeProto node, String input, float factor) {
    }

    private final OnnxModel model;
    private final GraphProto graph;
    private final GraphIndex index;
    private final Map<String, TensorInfo> types;
    private final Settings settings;
    private final QuantOps.Constants constants;

    /**
     * @param model a model put in shape by {@link GraphPreparation}
     * @param types its value types
     */
    QdqQuantizer(OnnxModel model, Map<String, TensorInfo> types, Settings settings) {
        this.model = model;
        this.graph = model.graph();
        this.index = GraphIndex.of(graph);
        this.types = types;
        this.settings = settings;
        this.constants = index::isInitializer;
    }

    private boolean isFloat(String tensor) {
        TensorInfo info = types.get(tensor);
        return info != null && info.type() == DataType.FLOAT;
    }

    /**
     * Whether the node reads or writes a tensor with no elements (a dimension of 0): there is nothing to
     * quantize, and ONNX Runtime's integer kernels crash on such a tensor (a MatMul with a [4, 0] weight).
     */
    private boolean touchesEmptyTensor(NodeProto node) {
        List<String> names = new ArrayList<>(node.getInputList());
        names.addAll(node.getOutputList());
        for (String name : names) {
            TensorInfo info = name.isEmpty() ? null : types.get(name);
            if (info != null) {
                for (long d : info.shape()) {
                    if (d == 0) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    private QuantOps.QdqRule rule(NodeProto node) {
        return QuantOps.qdq(node).orElseThrow(() -> new IllegalStateException(GraphIndex.describe(node) + " has no rule"));
    }

    /** Chooses the nodes to quantize and the tensors to calibrate. */
    Plan plan() {
        Plan plan = new Plan();
        Set<NodeProto> chosen = new LinkedHashSet<>();
        Set<String> quantizedTensors = new HashSet<>();
        for (NodeProto node : index.topologicalOrder()) {
            Optional<QuantOps.QdqRule> rule = QuantOps.qdq(node);
            boolean included = settings.includeOps().contains(node.getOpType())
                    || settings.includeNodes().contains(node.getName());
            if (rule.isEmpty() || !included
                    || settings.excludeNodes().contains(node.getName()) || node.getOutputCount() == 0
                    || !isFloat(node.getOutput(0)) || !activationsAreFloat(node, rule.get()) || touchesEmptyTensor(node)) {
                continue;
            }
            QuantOps.Output output = rule.get().output();
            boolean follower = output == QuantOps.Output.SAME_AS_INPUT || output == QuantOps.Output.REMOVABLE_ACTIVATION;
            if (follower && !quantizedTensors.contains(node.getInput(0))) {
                continue; // moving float values: a Q/DQ pair would only add work
            }
            Optional<Rescaling> rescaling = rescaling(node, quantizedTensors);
            if (rescaling.isPresent()) {
                plan.rescalings.put(node.getOutput(0), rescaling.get());
                quantizedTensors.add(node.getOutput(0));
                continue;
            }
            chosen.add(node);
            List<QuantOps.Role> roles = rule.get().rolesOf(node, constants);
            for (int i = 0; i < Math.min(roles.size(), node.getInputCount()); i++) {
                if (roles.get(i) == QuantOps.Role.ACTIVATION && !constants.isConstant(node.getInput(i))) {
                    quantizedTensors.add(node.getInput(i));
                }
            }
            quantizedTensors.add(node.getOutput(0));
        }
        if (!settings.symmetricActivations()) {
            for (NodeProto node : chosen) {
                if (rule(node).output() == QuantOps.Output.REMOVABLE_ACTIVATION) {
                    removable(node, chosen).ifPresent(input -> plan.removedActivations.put(node, input));
                }
            }
        }
        for (NodeProto node : chosen) {
            if (!plan.removedActivations.containsKey(node)) {
                plan.quantized.add(node);
            }
        }
        // A removed activation's input is its producer's output, now named as the activation's.
        Set<String> gone = new HashSet<>(plan.removedActivations.values());
        gone.addAll(plan.rescalings.keySet());
        Map<String, QuantOps.Output> derived = new HashMap<>();
        for (NodeProto node : plan.quantized) {
            QuantOps.Output output = rule(node).output();
            if (output == QuantOps.Output.SAME_AS_INPUT || output == QuantOps.Output.UNIT_INTERVAL) {
                derived.put(node.getOutput(0), output);
            }
            if (keepsFloatOutput(node)) {
                gone.add(node.getOutput(0));
            }
        }
        for (String tensor : quantizedTensors) {
            if (!gone.contains(tensor) && !derived.containsKey(tensor)) {
                plan.calibrate.add(tensor);
            }
        }
        for (NodeProto node : index.nodes()) {
            if (!chosen.contains(node) && node.getOutputCount() > 0 && !plan.rescalings.containsKey(node.getOutput(0))
                    && isFloat(node.getOutput(0)) && node.getInputList().stream().anyMatch(quantizedTensors::contains)) {
                plan.floatNeighbours.merge(node.getOpType(), 1, Integer::sum);
            }
        }
        return plan;
    }

    /**
     * A Mul of a quantized tensor by a positive scalar constant (HardSwish's 1/6 once decomposed) need not run:
     * the product is the same integers read with a scale times the constant.
     */
    private Optional<Rescaling> rescaling(NodeProto node, Set<String> quantizedTensors) {
        if (!node.getOpType().equals("Mul") || node.getInputCount() != 2 || index.isGraphOutput(node.getOutput(0))) {
            return Optional.empty();
        }
        for (int i = 0; i < 2; i++) {
            String input = node.getInput(i);
            Optional<Tensor> constant = GraphPreparation.floatConstant(model, index, node.getInput(1 - i));
            TensorInfo info = types.get(input);
            if (!quantizedTensors.contains(input) || constant.isEmpty() || info == null) {
                continue;
            }
            Tensor factor = constant.get();
            float f = factor.elementCount() == 1 ? factor.toFloatArray()[0] : Float.NaN;
            // a constant of higher rank than the input would broadcast the output to a new shape
            if (f > 0 && Float.isFinite(f) && factor.rank() <= info.rank()) {
                return Optional.of(new Rescaling(node, input, f));
            }
        }
        return Optional.empty();
    }

    /** A Gemm or MatMul writing a graph output that nothing else reads fuses without quantizing it. */
    private boolean keepsFloatOutput(NodeProto node) {
        String out = node.getOutput(0);
        return rule(node).floatOutput() && index.isGraphOutput(out) && index.consumers(out).isEmpty();
    }

    private boolean activationsAreFloat(NodeProto node, QuantOps.QdqRule rule) {
        List<QuantOps.Role> roles = rule.rolesOf(node, constants);
        for (int i = 0; i < Math.min(roles.size(), node.getInputCount()); i++) {
            QuantOps.Role role = roles.get(i);
            String in = node.getInput(i);
            if (role != QuantOps.Role.NONE && !in.isEmpty() && !isFloat(in)) {
                return false;
            }
        }
        return true;
    }

    /**
     * A ReLU or Clip can go when a quantized node with a calibrated output produces its input for it alone and
     * neither tensor is a graph output: the producer's output then takes the activation's name and range.
     */
    private Optional<String> removable(NodeProto activation, Set<NodeProto> chosen) {
        String input = activation.getInput(0);
        Optional<NodeProto> producer = index.producer(input);
        if (producer.isEmpty() || !chosen.contains(producer.get())
                || rule(producer.get()).output() != QuantOps.Output.CALIBRATED
                || index.consumers(input).size() != 1 || index.isGraphOutput(input)
                || index.isGraphOutput(activation.getOutput(0))) {
            return Optional.empty();
        }
        for (int i = 1; i < activation.getInputCount(); i++) {
            if (!activation.getInput(i).isEmpty() && !constants.isConstant(activation.getInput(i))) {
                return Optional.empty(); // a Clip with run-time bounds
            }
        }
        return Optional.of(input);
    }

    /**
     * Rewrites the model with the calibrated {@code ranges}.
     *
     * @return the quantized model
     */
    OnnxModel apply(Plan plan, Map<String, TensorRange> ranges) {
        GraphEditor editor = GraphEditor.of(graph);
        QdqBuilder builder = new QdqBuilder(editor);
        // 1. Drop removable activations: their producer writes the activation's output directly, and that output
        //    keeps the activation's calibrated range (from zero up).
        Map<String, String> renamed = new HashMap<>();
        for (Map.Entry<NodeProto, String> e : plan.removedActivations.entrySet()) {
            renamed.put(e.getValue(), e.getKey().getOutput(0));
            editor.removeNode(e.getKey());
        }
        plan.rescalings.values().forEach(r -> editor.removeNode(r.node()));
        List<NodeProto> quantized = new ArrayList<>();
        for (NodeProto node : plan.quantized) {
            NodeProto current = rename(node, renamed);
            if (!current.equals(node)) {
                editor.replaceNode(node, current);
            }
            quantized.add(current);
        }

        // 2. Parameters of every quantized activation, in graph order so that inputs come first.
        Map<String, QuantParams> params = new LinkedHashMap<>();
        for (NodeProto node : quantized) {
            QuantOps.QdqRule rule = rule(node);
            List<QuantOps.Role> roles = rule.rolesOf(node, constants);
            for (int i = 0; i < Math.min(roles.size(), node.getInputCount()); i++) {
                String in = node.getInput(i);
                if (roles.get(i) == QuantOps.Role.ACTIVATION && !constants.isConstant(in) && !params.containsKey(in)) {
                    putParams(plan, ranges, params, in, node);
                }
            }
            String out = node.getOutput(0);
            if (keepsFloatOutput(node)) {
                continue; // fused with a float output: no 8-bit rounding of the model's result
            }
            switch (rule.output()) {
                case SAME_AS_INPUT -> params.put(out, params.get(node.getInput(0)));
                case UNIT_INTERVAL -> params.put(out, QuantParams.fromRange(0, 1, settings.activationType(), false, false));
                default -> params.put(out, activationParams(ranges, out, node));
            }
        }
        for (String rescaled : plan.rescalings.keySet()) {
            putParams(plan, ranges, params, rescaled, plan.rescalings.get(rescaled).node());
        }

        // 3. Quantized nodes read their constants 8-bit: weights per channel, biases int32, others per tensor.
        Set<String> replacedConstants = new HashSet<>();
        for (NodeProto node : quantized) {
            try {
                NodeProto rewritten = withQuantizedConstants(builder, node, params, replacedConstants);
                editor.replaceNode(node, rewritten);
            } catch (RuntimeException e) {
                throw new TransformException("cannot quantize " + GraphIndex.describe(node) + ": "
                        + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()), false, e);
            }
        }

        // 4. One Q/DQ pair per activation; every reader, quantized or not, reads the DQ. A rescaled tensor has a
        //    DQ of its input's integers only; a tensor that only a removed Mul read has a Q only.
        Set<String> read = new HashSet<>();
        editor.nodes().forEach(n -> read.addAll(n.getInputList()));
        Map<String, QdqBuilder.Stored> stored = new HashMap<>();
        for (Map.Entry<String, QuantParams> e : params.entrySet()) {
            String tensor = e.getKey();
            Rescaling rescaling = plan.rescalings.get(tensor);
            boolean output = index.isGraphOutput(tensor);
            String dequantized = output ? tensor : editor.freshName(tensor + "_dequantized");
            if (!dequantized.equals(tensor)) {
                editor.replaceUses(tensor, dequantized);
            }
            if (rescaling != null) {
                stored.put(tensor, builder.dequantizeRescaled(stored.get(rescaling.input()), e.getValue().scale(),
                        dequantized));
            } else if (read.contains(tensor) || output) {
                stored.put(tensor, builder.quantizeDequantize(tensor, e.getValue(), dequantized));
            } else {
                stored.put(tensor, builder.quantize(tensor, e.getValue(), false));
            }
        }
        GraphPreparation.removeUnused(editor, replacedConstants);
        dropStaleValueInfo(editor, renamed.keySet());
        return model.withGraph(editor.build());
    }

    private NodeProto withQuantizedConstants(QdqBuilder builder, NodeProto node, Map<String, QuantParams> params,
                                             Set<String> replacedConstants) {
        QuantOps.QdqRule rule = rule(node);
        List<QuantOps.Role> roles = rule.rolesOf(node, constants);
        NodeProto.Builder b = node.toBuilder();
        QuantParams weightParams = null;
        String base = DynamicQuantizer.baseName(node);
        for (int i = 0; i < Math.min(roles.size(), node.getInputCount()); i++) {
            String in = node.getInput(i);
            Optional<TensorProto> constant = index.initializer(in);
            if (constant.isEmpty() || constant.get().getDataType() != DataType.FLOAT.code()) {
                continue;
            }
            Tensor value = model.tensor(constant.get());
            switch (roles.get(i)) {
                case ACTIVATION -> {
                    WeightQuantizer.Quantized q = WeightQuantizer.quantize(value, settings.activationType(), -1,
                            settings.symmetricActivations(), false);
                    b.setInput(i, builder.dequantizedConstant(base + "_" + in, q));
                    replacedConstants.add(in);
                }
                case WEIGHT -> {
                    int axis = settings.perChannel() && model.opsetVersion() >= 13
                            ? rule.weightAxis().axis(node, constant.get().getDimsCount()) : -1;
                    WeightQuantizer.Quantized q = WeightQuantizer.quantize(value, QuantType.INT8, axis, true,
                            settings.reduceRange());
                    weightParams = q.params();
                    b.setInput(i, builder.dequantizedConstant(in, q));
                    replacedConstants.add(in);
                }
                case BIAS -> {
                    QuantParams input = params.get(node.getInput(0));
                    int channels = weightParams == null ? 0 : weightParams.scales().length;
                    if (input == null || weightParams == null
                            || (weightParams.perChannel() ? value.elementCount() != channels : value.rank() > 1)) {
                        break; // left float: ONNX Runtime then runs the node in float
                    }
                    WeightQuantizer.QuantizedBias q = WeightQuantizer.bias(value, input.scale(), weightParams);
                    b.setInput(i, builder.dequantize(builder.storeBias(in, q, value.rank() - 1), in));
                    replacedConstants.add(in);
                }
                default -> {
                }
            }
        }
        return b.build();
    }

    private static NodeProto rename(NodeProto node, Map<String, String> renamed) {
        NodeProto.Builder b = node.toBuilder();
        boolean changed = false;
        for (int i = 0; i < b.getOutputCount(); i++) {
            String to = renamed.get(b.getOutput(i));
            if (to != null) {
                b.setOutput(i, to);
                changed = true;
            }
        }
        return changed ? b.build() : node;
    }

    /** Puts the parameters of {@code tensor}, read or written by {@code node}; a rescaled one's input's first. */
    private void putParams(Plan plan, Map<String, TensorRange> ranges, Map<String, QuantParams> params, String tensor,
                           NodeProto node) {
        Rescaling rescaling = plan.rescalings.get(tensor);
        if (rescaling == null) {
            params.put(tensor, activationParams(ranges, tensor, node));
            return;
        }
        if (!params.containsKey(rescaling.input())) {
            putParams(plan, ranges, params, rescaling.input(), rescaling.node());
        }
        QuantParams source = params.get(rescaling.input());
        params.put(tensor, QuantParams.perTensor(source.scale() * rescaling.factor(), source.zeroPoint(), source.type()));
    }

    private QuantParams activationParams(Map<String, TensorRange> ranges, String tensor, NodeProto node) {
        TensorRange range = ranges.get(tensor);
        if (range == null) {
            throw new TransformException("calibration found no range for '" + tensor + "', read or written by "
                    + GraphIndex.describe(node) + " (the samples never reach it)", false);
        }
        return QuantParams.fromRange(range.min(), range.max(), settings.activationType(),
                settings.symmetricActivations(), false);
    }

    private static void dropStaleValueInfo(GraphEditor editor, Set<String> gone) {
        List<ValueInfoProto> kept = new ArrayList<>();
        for (ValueInfoProto info : editor.graph().getValueInfoList()) {
            if (!gone.contains(info.getName())) {
                kept.add(info);
            }
        }
        editor.graph().clearValueInfo().addAllValueInfo(kept);
    }
}
