package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/**
 * Static quantization in QDQ form: every activation a quantized node reads or writes gets one
 * QuantizeLinear/DequantizeLinear pair with its calibrated scale and zero point, weights are stored 8-bit
 * behind a DequantizeLinear (per output channel), biases int32. ONNX Runtime fuses the pairs around each
 * operator into its integer kernels (QLinearConv, QGemm, ...). ReLU and Clip after a quantized operator
 * disappear into the quantization of its output, whose range already starts at zero.
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
     * @param excludeNodes node names left float
     */
    record Settings(QuantType activationType, boolean symmetricActivations, boolean perChannel, boolean reduceRange,
                    Set<String> includeOps, Set<String> excludeNodes) {
    }

    /** The plan before calibration: which nodes are quantized and which tensors need ranges. */
    static final class Plan {
        final List<NodeProto> quantized = new ArrayList<>();
        /** Activation tensors to calibrate. */
        final Set<String> calibrate = new LinkedHashSet<>();
        /** ReLU/Clip nodes that disappear: their input tensor becomes their output. */
        final Map<NodeProto, String> removedActivations = new LinkedHashMap<>();

        boolean isEmpty() {
            return quantized.isEmpty();
        }
    }

    private final OnnxModel model;
    private final GraphProto graph;
    private final GraphIndex index;
    private final Map<String, TensorInfo> types;
    private final Settings settings;
    private final QdqOps.Constants constants;

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

    /** Chooses the nodes to quantize and the tensors to calibrate. */
    Plan plan() {
        Plan plan = new Plan();
        Set<NodeProto> chosen = new HashSet<>();
        for (NodeProto node : index.topologicalOrder()) {
            Optional<QdqOps.Rule> rule = QdqOps.rule(node);
            if (rule.isEmpty() || !settings.includeOps().contains(node.getOpType())
                    || settings.excludeNodes().contains(node.getName()) || node.getOutputCount() == 0
                    || !isFloat(node.getOutput(0))) {
                continue;
            }
            List<QdqOps.Role> roles = rule.get().rolesOf(node, constants);
            for (int i = 0; i < Math.min(roles.size(), node.getInputCount()); i++) {
                if (roles.get(i) == QdqOps.Role.ACTIVATION && isFloat(node.getInput(i))) {
                    plan.calibrate.add(node.getInput(i));
                }
            }
            plan.calibrate.add(node.getOutput(0));
            plan.quantized.add(node);
            chosen.add(node);
        }
        if (!settings.symmetricActivations()) {
            for (NodeProto node : plan.quantized) {
                if (QdqOps.rule(node).orElseThrow().output() == QdqOps.Output.REMOVABLE_ACTIVATION) {
                    removable(node, chosen).ifPresent(input -> plan.removedActivations.put(node, input));
                }
            }
        }
        return plan;
    }

    /**
     * A ReLU or Clip can go when a quantized node produces its input for it alone and neither tensor is a
     * graph output: the producer's output then takes the activation's name and range.
     */
    private Optional<String> removable(NodeProto activation, Set<NodeProto> chosen) {
        String input = activation.getInput(0);
        Optional<NodeProto> producer = index.producer(input);
        if (producer.isEmpty() || !chosen.contains(producer.get())
                || QdqOps.rule(producer.get()).orElseThrow().output() != QdqOps.Output.CALIBRATED
                || index.consumers(input).size() != 1 || index.isGraphOutput(input)
                || index.isGraphOutput(activation.getOutput(0))) {
            return Optional.empty();
        }
        if (activation.getOpType().equals("Clip") && !clipBoundsAreConstant(activation)) {
            return Optional.empty();
        }
        return Optional.of(input);
    }

    private boolean clipBoundsAreConstant(NodeProto clip) {
        for (int i = 1; i < clip.getInputCount(); i++) {
            if (!clip.getInput(i).isEmpty() && !constants.isConstant(clip.getInput(i))) {
                return false;
            }
        }
        return true;
    }

    /**
     * Rewrites the model with the calibrated {@code ranges}.
     *
     * @return the quantized model
     */
    OnnxModel apply(Plan plan, Map<String, TensorRange> ranges) {
        GraphEditor editor = GraphEditor.of(graph);
        // 1. Drop removable activations: their producer writes the activation's output directly, and
        //    that output keeps the activation's calibrated range (from zero up).
        Map<String, String> renamed = new HashMap<>();
        for (Map.Entry<NodeProto, String> e : plan.removedActivations.entrySet()) {
            renamed.put(e.getValue(), e.getKey().getOutput(0));
            editor.removeNode(e.getKey());
        }
        List<NodeProto> quantized = new ArrayList<>();
        for (NodeProto node : plan.quantized) {
            if (plan.removedActivations.containsKey(node)) {
                continue;
            }
            NodeProto current = rename(node, renamed);
            if (!current.equals(node)) {
                editor.replaceNode(node, current);
            }
            quantized.add(current);
        }

        // 2. Parameters of every quantized activation, in graph order so that inputs come first.
        Map<String, QuantParams> params = new LinkedHashMap<>();
        for (NodeProto node : quantized) {
            QdqOps.Rule rule = QdqOps.rule(node).orElseThrow();
            List<QdqOps.Role> roles = rule.rolesOf(node, constants);
            for (int i = 0; i < Math.min(roles.size(), node.getInputCount()); i++) {
                String in = node.getInput(i);
                if (roles.get(i) == QdqOps.Role.ACTIVATION && isFloat(in) && !params.containsKey(in)) {
                    params.put(in, activationParams(ranges, in));
                }
            }
            String out = node.getOutput(0);
            switch (rule.output()) {
                case SAME_AS_INPUT:
                    params.put(out, params.getOrDefault(node.getInput(0), activationParams(ranges, out)));
                    break;
                case UNIT_INTERVAL:
                    params.put(out, QuantParams.fromRange(0, 1, settings.activationType(), false, false));
                    break;
                default:
                    params.put(out, activationParams(ranges, out));
            }
        }
        // A graph output keeps its name on the DQ output, so the model's interface does not change.
        Map<String, String> dequantized = new LinkedHashMap<>();
        for (String tensor : params.keySet()) {
            dequantized.put(tensor, index.isGraphOutput(tensor) ? tensor : editor.freshName(tensor + "_dequantized"));
        }

        // 3. Quantized nodes read DQ outputs: activations', and their own 8-bit weights' and int32 biases'.
        Map<String, String> weightCache = new HashMap<>();
        Set<String> replacedConstants = new HashSet<>();
        for (NodeProto node : quantized) {
            List<QdqOps.Role> roles = QdqOps.rule(node).orElseThrow().rolesOf(node, constants);
            NodeProto.Builder b = node.toBuilder();
            QuantParams weightParams = null;
            for (int i = 0; i < Math.min(roles.size(), node.getInputCount()); i++) {
                String in = node.getInput(i);
                switch (roles.get(i)) {
                    case ACTIVATION:
                        if (dequantized.containsKey(in)) {
                            b.setInput(i, dequantized.get(in));
                        }
                        break;
                    case WEIGHT: {
                        TensorProto weight = index.initializer(in).orElseThrow();
                        int axis = settings.perChannel()
                                ? QdqOps.rule(node).orElseThrow().weightAxis().axis(node, weight.getDimsCount()) : -1;
                        WeightQuantizer.Quantized q = WeightQuantizer.quantize(model.tensor(weight), QuantType.INT8,
                                axis, true, settings.reduceRange());
                        weightParams = q.params();
                        b.setInput(i, weightCache.computeIfAbsent(in + "@" + axis, k -> insertConstant(editor, in, q)));
                        replacedConstants.add(in);
                        break;
                    }
                    case BIAS: {
                        QuantParams input = params.get(node.getInput(0));
                        if (weightParams == null || input == null) {
                            break;
                        }
                        TensorProto bias = index.initializer(in).orElseThrow();
                        b.setInput(i, insertBias(editor, in, WeightQuantizer.bias(model.tensor(bias), input.scale(),
                                weightParams), bias.getDimsCount()));
                        replacedConstants.add(in);
                        break;
                    }
                    default:
                }
            }
            editor.replaceNode(node, b.build());
        }

        // 4. One Q/DQ pair per activation.
        for (Map.Entry<String, QuantParams> e : params.entrySet()) {
            insertQdq(editor, e.getKey(), e.getValue(), dequantized.get(e.getKey()));
        }
        for (String constant : replacedConstants) {
            if (editor.nodes().stream().noneMatch(n -> n.getInputList().contains(constant))) {
                editor.removeInitializer(constant);
            }
        }
        dropStaleValueInfo(editor, renamed.keySet());
        return model.withGraph(editor.build());
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

    private QuantParams activationParams(Map<String, TensorRange> ranges, String tensor) {
        TensorRange range = ranges.get(tensor);
        if (range == null) {
            throw new IllegalStateException("no calibrated range for '" + tensor + "'");
        }
        return QuantParams.fromRange(range.min(), range.max(), settings.activationType(),
                settings.symmetricActivations(), false);
    }

    /**
     * Inserts QuantizeLinear and DequantizeLinear after {@code tensor}, the DQ writing {@code dequantized}.
     * For a graph output ({@code dequantized} is the tensor itself) the producer's output is renamed first.
     */
    private static void insertQdq(GraphEditor editor, String tensor, QuantParams p, String dequantized) {
        String scale = editor.freshName(tensor + "_scale");
        String zeroPoint = editor.freshName(tensor + "_zero_point");
        editor.putInitializer(Tensor.ofFloats(new long[0], p.scale()).toProto(scale));
        editor.putInitializer(Tensor.fromDoubles(p.type().dataType(), new long[0], new double[] {p.zeroPoint()})
                .toProto(zeroPoint));
        String source = tensor;
        if (dequantized.equals(tensor)) {
            source = editor.freshName(tensor + "_float");
            renameProducer(editor, tensor, source);
        }
        String quantized = editor.freshName(tensor + "_quantized");
        editor.addNode(OnnxHelper.node("QuantizeLinear", List.of(source, scale, zeroPoint), List.of(quantized)));
        editor.addNode(OnnxHelper.node("DequantizeLinear", List.of(quantized, scale, zeroPoint), List.of(dequantized)));
    }

    private static void renameProducer(GraphEditor editor, String from, String to) {
        for (NodeProto node : editor.nodes()) {
            int at = node.getOutputList().indexOf(from);
            if (at >= 0) {
                editor.replaceNode(node, node.toBuilder().setOutput(at, to).build());
                return;
            }
        }
        throw new InvalidInputException("graph output '" + from + "' has no producing node to quantize");
    }

    /** Stores an 8-bit constant with its DequantizeLinear; returns the DQ output name. */
    private static String insertConstant(GraphEditor editor, String name, WeightQuantizer.Quantized q) {
        QuantParams p = q.params();
        String values = editor.freshName(name + "_quantized");
        String scale = editor.freshName(name + "_scale");
        String zeroPoint = editor.freshName(name + "_zero_point");
        long[] shape = p.perChannel() ? new long[] {p.scales().length} : new long[0];
        editor.putInitializer(q.values().toProto(values));
        editor.putInitializer(Tensor.ofFloats(shape, p.scales()).toProto(scale));
        double[] zps = new double[p.zeroPoints().length];
        for (int i = 0; i < zps.length; i++) {
            zps[i] = p.zeroPoints()[i];
        }
        editor.putInitializer(Tensor.fromDoubles(p.type().dataType(), shape, zps).toProto(zeroPoint));
        String output = editor.freshName(name + "_dequantized");
        editor.addNode(p.perChannel()
                ? OnnxHelper.node("DequantizeLinear", List.of(values, scale, zeroPoint), List.of(output),
                        OnnxHelper.attr("axis", (long) p.axis()))
                : OnnxHelper.node("DequantizeLinear", List.of(values, scale, zeroPoint), List.of(output)));
        return output;
    }

    private static String insertBias(GraphEditor editor, String name, WeightQuantizer.QuantizedBias q, int rank) {
        String values = editor.freshName(name + "_quantized");
        String scale = editor.freshName(name + "_scale");
        String zeroPoint = editor.freshName(name + "_zero_point");
        boolean perChannel = q.scales().length > 1;
        long[] shape = perChannel ? new long[] {q.scales().length} : new long[0];
        editor.putInitializer(q.values().toProto(values));
        editor.putInitializer(Tensor.ofFloats(shape, q.scales()).toProto(scale));
        editor.putInitializer(Tensor.fromDoubles(DataType.INT32, shape, new double[q.scales().length]).toProto(zeroPoint));
        String output = editor.freshName(name + "_dequantized");
        editor.addNode(perChannel
                ? OnnxHelper.node("DequantizeLinear", List.of(values, scale, zeroPoint), List.of(output),
                        OnnxHelper.attr("axis", (long) (rank - 1)))
                : OnnxHelper.node("DequantizeLinear", List.of(values, scale, zeroPoint), List.of(output)));
        return output;
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

    /** The supported operator types, by name. */
    static Function<String, Boolean> supported() {
        return QdqOps.SUPPORTED::contains;
    }
}
