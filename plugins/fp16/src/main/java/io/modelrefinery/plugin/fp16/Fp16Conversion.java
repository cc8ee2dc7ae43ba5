package io.modelrefinery.plugin.fp16;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.NodeHandle;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One float32-to-float16 conversion of a model's main graph.
 *
 * <p>Every float value gets one stored type: float16 when the node producing it is converted (or, for
 * initializers and inputs, when a converted node reads it), float32 otherwise. Where a reader needs
 * the other type, one {@code Cast} per value and type is inserted. Types of values come from ONNX
 * Runtime's inference, so no operator needs a hand-written type rule.
 */
final class Fp16Conversion {
    /** Inputs that must stay float32 whatever the operator's other inputs are (its schema says so). */
    private static final Map<String, Set<Integer>> FLOAT32_INPUTS = Map.of(
            "Resize", Set.of(2),
            "Upsample", Set.of(1));
    private static final float HALF_MAX = 65504f;

    private final OnnxModel model;
    private final GraphProto graph;
    private final Map<String, TensorInfo> types;
    private final boolean keepIoTypes;
    private final Set<String> blockedOps;
    private final Set<String> blockedNodes;

    private int convertedNodes;
    private int float32Nodes;
    private int castsAdded;
    private int convertedInitializers;
    private long saturatedValues;
    private RuntimeGaps gaps;

    Fp16Conversion(OnnxModel model, Map<String, TensorInfo> types, boolean keepIoTypes, List<String> blockedOps,
                   List<String> blockedNodes) {
        this.model = model;
        this.graph = model.graph();
        this.types = types;
        this.keepIoTypes = keepIoTypes;
        this.blockedOps = new HashSet<>(blockedOps);
        this.blockedNodes = new HashSet<>(blockedNodes);
    }

    int convertedNodes() {
        return convertedNodes;
    }

    int float32Nodes() {
        return float32Nodes;
    }

    int castsAdded() {
        return castsAdded;
    }

    int convertedInitializers() {
        return convertedInitializers;
    }

    long saturatedValues() {
        return saturatedValues;
    }

    /** What ONNX Runtime's gaps kept in float32 (after {@link #run}). */
    RuntimeGaps runtimeGaps() {
        return gaps;
    }

    OnnxModel run() {
        GraphIndex index = GraphIndex.of(graph);
        gaps = new RuntimeGaps(index);
        List<NodeProto> nodes = graph.getNodeList();
        boolean[] converted = new boolean[nodes.size()];
        Map<NodeProto, Integer> position = new HashMap<>();
        for (int i = 0; i < nodes.size(); i++) {
            converted[i] = convertible(nodes.get(i)) && !gaps.keepsFloat32(nodes.get(i));
            position.put(nodes.get(i), i);
        }

        // The stored type of every float value.
        Map<String, DataType> stored = new HashMap<>();
        for (int i = 0; i < nodes.size(); i++) {
            for (String out : nodes.get(i).getOutputList()) {
                if (isFloat(out)) {
                    stored.put(out, converted[i] ? DataType.FLOAT16 : DataType.FLOAT);
                }
            }
        }
        for (String name : sourceValues()) {
            if (!isFloat(name)) {
                continue;
            }
            boolean halfWanted = false;
            for (NodeProto consumer : index.consumers(name)) {
                int i = position.get(consumer);
                for (int j = 0; j < consumer.getInputCount(); j++) {
                    if (consumer.getInput(j).equals(name) && wantsHalf(consumer, j, converted[i])) {
                        halfWanted = true;
                    }
                }
            }
            boolean fixedInput = keepIoTypes && index.isGraphInput(name) && !index.isInitializer(name);
            stored.put(name, halfWanted && !fixedInput ? DataType.FLOAT16 : DataType.FLOAT);
        }

        GraphEditor editor = GraphEditor.of(graph);
        List<NodeHandle> handles = editor.handles(); // handles.get(i) is nodes.get(i), whatever is added after it
        Map<String, String> casts = new HashMap<>();
        for (int i = 0; i < nodes.size(); i++) {
            NodeProto node = nodes.get(i);
            NodeProto.Builder b = node.toBuilder();
            boolean touchesFloat = false;
            for (int j = 0; j < node.getInputCount(); j++) {
                String in = node.getInput(j);
                DataType have = stored.get(in);
                if (have == null) {
                    continue;
                }
                touchesFloat = true;
                DataType want = wantsHalf(node, j, converted[i]) ? DataType.FLOAT16 : DataType.FLOAT;
                if (want != have) {
                    b.setInput(j, cast(editor, casts, in, want));
                }
            }
            for (String out : node.getOutputList()) {
                touchesFloat |= stored.containsKey(out);
            }
            if (converted[i]) {
                retypeAttributes(node, b);
            }
            if (touchesFloat) {
                if (converted[i]) {
                    convertedNodes++;
                } else {
                    float32Nodes++;
                }
            }
            editor.set(handles.get(i), b.build());
        }

        // Graph outputs keep their names; where their type must differ from the stored one, the producer
        // writes a renamed value and a Cast writes the output.
        for (ValueInfoProto output : graph.getOutputList()) {
            String name = output.getName();
            DataType have = stored.get(name);
            Integer producer = index.producer(name).map(position::get).orElse(null);
            if (have == null || producer == null) {
                continue;
            }
            DataType need = keepIoTypes ? DataType.FLOAT : have;
            if (need != have) {
                String renamed = editor.freshName(name + (have == DataType.FLOAT16 ? "_fp16" : "_fp32"));
                // By handle: earlier renames may have rewritten the producer's inputs (a graph output read by
                // another node) or its other outputs, so the value read from the graph is stale.
                NodeHandle writer = editor.producer(name).orElseThrow();
                NodeProto.Builder b = editor.node(writer).toBuilder();
                for (int k = 0; k < b.getOutputCount(); k++) {
                    if (b.getOutput(k).equals(name)) {
                        b.setOutput(k, renamed);
                    }
                }
                editor.set(writer, b.build());
                editor.replaceUses(name, renamed);
                editor.addNode(castNode(renamed, name, need));
                castsAdded++;
            }
            editor.setElementType(name, need);
        }

        for (TensorProto init : graph.getInitializerList()) {
            if (stored.get(init.getName()) == DataType.FLOAT16) {
                editor.putInitializer(toHalf(init));
                convertedInitializers++;
            }
        }
        for (ValueInfoProto input : graph.getInputList()) {
            DataType type = stored.get(input.getName());
            if (type != null) {
                editor.setElementType(input.getName(), type);
            }
        }
        for (ValueInfoProto info : graph.getValueInfoList()) {
            DataType type = stored.get(info.getName());
            if (type != null) {
                editor.setElementType(info.getName(), type);
            }
        }
        return model.withGraph(editor.build());
    }

    /** Graph inputs and initializers: values no node produces. */
    private List<String> sourceValues() {
        List<String> names = new ArrayList<>();
        graph.getInputList().forEach(v -> names.add(v.getName()));
        graph.getInitializerList().forEach(t -> names.add(t.getName()));
        return names;
    }

    private boolean isFloat(String value) {
        TensorInfo info = types.get(value);
        return info != null && info.type() == DataType.FLOAT;
    }

    /**
     * Nodes of ONNX's own domain, not blocked, without subgraphs and not reading or writing sequences or
     * optionals (whose element types are not converted), are computed in float16.
     */
    private boolean convertible(NodeProto node) {
        boolean onnxDomain = node.getDomain().isEmpty() || node.getDomain().equals("ai.onnx");
        boolean hasSubgraph = node.getAttributeList().stream().anyMatch(a -> a.hasG() || a.getGraphsCount() > 0);
        String op = node.getOpType();
        boolean containers = op.startsWith("Sequence") || op.startsWith("Optional") || op.equals("SplitToSequence")
                || op.equals("ConcatFromSequence");
        return onnxDomain && !hasSubgraph && !containers && !blockedOps.contains(op)
                && !blockedNodes.contains(node.getName());
    }

    private static boolean wantsHalf(NodeProto node, int inputIndex, boolean converted) {
        return converted && !FLOAT32_INPUTS.getOrDefault(node.getOpType(), Set.of()).contains(inputIndex);
    }

    /** The name of {@code value} cast to {@code type}, adding the Cast the first time. */
    private String cast(GraphEditor editor, Map<String, String> casts, String value, DataType type) {
        return casts.computeIfAbsent(value + "->" + type, key -> {
            String name = editor.freshName(value + (type == DataType.FLOAT16 ? "_to_fp16" : "_to_fp32"));
            editor.addNode(castNode(value, name, type));
            castsAdded++;
            return name;
        });
    }

    private static NodeProto castNode(String input, String output, DataType type) {
        return OnnxHelper.node("Cast", List.of(input), List.of(output), OnnxHelper.attr("to", (long) type.code()));
    }

    /** Attributes that name or hold float32 data, in a node now computed in float16. */
    private void retypeAttributes(NodeProto node, NodeProto.Builder b) {
        boolean floatOutput = node.getOutputList().stream().anyMatch(this::isFloat);
        if (!floatOutput) {
            return;
        }
        String op = node.getOpType();
        boolean hasDtype = false;
        for (int k = 0; k < b.getAttributeCount(); k++) {
            AttributeProto a = b.getAttribute(k);
            if ((a.getName().equals("to") || a.getName().equals("dtype")) && a.getI() == DataType.FLOAT.code()) {
                b.setAttribute(k, a.toBuilder().setI(DataType.FLOAT16.code()));
            }
            hasDtype |= a.getName().equals("dtype");
            if (a.hasT() && a.getT().getDataType() == DataType.FLOAT.code()) {
                b.setAttribute(k, a.toBuilder().setT(toHalf(a.getT())));
            }
            if (op.equals("Constant") && (a.getName().equals("value_float") || a.getName().equals("value_floats"))) {
                float[] values = a.getName().equals("value_float") ? new float[] {a.getF()} : toArray(a.getFloatsList());
                long[] dims = a.getName().equals("value_float") ? new long[0] : new long[] {values.length};
                b.setAttribute(k, OnnxHelper.attr("value", half(Tensor.ofFloats(dims, values), "")));
            }
        }
        if (!hasDtype && (op.equals("RandomNormal") || op.equals("RandomUniform"))) {
            b.addAttribute(OnnxHelper.attr("dtype", (long) DataType.FLOAT16.code()));
        }
        if (op.equals("ConstantOfShape") && OnnxHelper.attribute(node, "value").isEmpty()) {
            // Its default value is a float32 zero.
            b.addAttribute(OnnxHelper.attr("value", half(Tensor.ofFloats(new long[] {1}, 0f), "")));
        }
    }

    private TensorProto toHalf(TensorProto tensor) {
        TensorProto half = half(model.tensor(tensor), tensor.getName());
        return half.toBuilder().setDocString(tensor.getDocString()).addAllMetadataProps(tensor.getMetadataPropsList())
                .build();
    }

    /** {@code tensor} in float16, values beyond float16's range clamped (and counted) instead of infinite. */
    private TensorProto half(Tensor tensor, String name) {
        float[] values = tensor.toFloatArray();
        for (int i = 0; i < values.length; i++) {
            float v = values[i];
            if (Float.isFinite(v) && Math.abs(v) > HALF_MAX) {
                values[i] = Math.copySign(HALF_MAX, v);
                saturatedValues++;
            }
        }
        return Tensor.fromFloats(DataType.FLOAT16, tensor.shape(), values).toProto(name);
    }

    private static float[] toArray(List<Float> list) {
        float[] out = new float[list.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = list.get(i);
        }
        return out;
    }
}
