package io.modelrefinery.plugin.distill;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.NodeHandle;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.InvalidModelException;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;

import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

/**
 * Makes a student from a teacher: the same graph with every convolution and hidden dense layer narrowed
 * to {@code width} of its output channels (at least one; depthwise convolutions follow their input), the
 * last weighted layers keeping their outputs
 * so the student predicts what the teacher does. Every weight is freshly initialised from a seeded
 * generator (He-uniform, biases zero; BatchNormalization scale 1, shift 0, statistics 0 and 1).
 */
final class Students {
    private static final Set<String> CHANNEL_PRESERVING = Set.of("Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip",
            "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Dropout", "Identity");
    private static final Set<String> WEIGHTED = Set.of("Conv", "Gemm", "MatMul");

    private Students() {
    }

    /**
     * @param types the teacher's value shapes (channel and feature counts must be static)
     * @throws InvalidModelException naming the node when a narrowed value reaches an operator this cannot follow
     */
    static OnnxModel narrowed(OnnxModel teacher, Map<String, TensorInfo> types, double width, long seed) {
        GraphIndex index = GraphIndex.of(teacher.graph());
        List<NodeProto> order = index.topologicalOrder();
        Set<NodeProto> last = lastWeighted(index, order);
        Map<String, long[]> newShapes = new HashMap<>();
        Map<NodeProto, Long> groups = new HashMap<>();
        // value -> {original count, new count} along axis 1 (channels, or features after Flatten)
        Map<String, long[]> narrowedValues = new HashMap<>();
        for (NodeProto node : order) {
            String op = node.getOpType();
            long[] in = node.getInputCount() > 0 ? narrowedValues.get(node.getInput(0)) : null;
            switch (op) {
                case "Conv" -> {
                    long[] w = dims(index, node.getInput(1), node);
                    long group = OnnxHelper.getInt(node, "group", 1);
                    long out;
                    if (group != 1 && w[1] == 1 && !last.contains(node)) {
                        // Depthwise: one group per input channel, so the groups follow the input's narrowing.
                        long channels = in != null ? in[1] : group;
                        out = channels * (w[0] / group);
                        groups.put(node, channels);
                        newShapes.put(node.getInput(1), concat(new long[] {out, 1}, w, 2));
                    } else if (group != 1) {
                        throw new InvalidModelException("cannot narrow grouped " + GraphIndex.describe(node)
                                + "; give a student model");
                    } else {
                        out = last.contains(node) ? w[0] : Math.max(1, Math.round(w[0] * width));
                        long inChannels = in != null ? in[1] : w[1];
                        newShapes.put(node.getInput(1), concat(new long[] {out, inChannels}, w, 2));
                    }
                    if (node.getInputCount() > 2 && !node.getInput(2).isEmpty()) {
                        newShapes.put(node.getInput(2), new long[] {out});
                    }
                    if (out != w[0]) {
                        narrowedValues.put(node.getOutput(0), new long[] {w[0], out});
                    }
                }
                case "Gemm", "MatMul" -> {
                    if (!index.isInitializer(node.getInput(1))) {
                        if (in != null || narrowedValues.containsKey(node.getInput(1))) {
                            throw new InvalidModelException("cannot narrow " + GraphIndex.describe(node)
                                    + " without a weight initializer; give a student model");
                        }
                        break;
                    }
                    long[] w = dims(index, node.getInput(1), node);
                    boolean transB = op.equals("Gemm") && OnnxHelper.getInt(node, "transB", 0) == 1;
                    if (op.equals("Gemm") && OnnxHelper.getInt(node, "transA", 0) == 1) {
                        throw new InvalidModelException("cannot narrow " + GraphIndex.describe(node)
                                + " with transA=1; give a student model");
                    }
                    int outAxis = transB ? 0 : w.length - 1;
                    int inAxis = transB ? 1 : w.length - 2;
                    long out = last.contains(node) ? w[outAxis] : Math.max(1, Math.round(w[outAxis] * width));
                    long[] shape = w.clone();
                    shape[outAxis] = out;
                    if (in != null) {
                        shape[inAxis] = in[1];
                    }
                    newShapes.put(node.getInput(1), shape);
                    if (node.getInputCount() > 2 && !node.getInput(2).isEmpty()) {
                        newShapes.put(node.getInput(2), new long[] {out});
                    }
                    if (op.equals("MatMul") && out != w[outAxis]) {
                        // A MatMul's bias is a following Add; it is narrowed with its broadcast operand below.
                        narrowedValues.put(node.getOutput(0), new long[] {w[outAxis], out});
                    } else if (out != w[outAxis]) {
                        narrowedValues.put(node.getOutput(0), new long[] {w[outAxis], out});
                    }
                }
                case "BatchNormalization" -> {
                    if (in != null) {
                        for (int i = 1; i < 5; i++) {
                            newShapes.put(node.getInput(i), new long[] {in[1]});
                        }
                        narrowedValues.put(node.getOutput(0), in);
                    }
                }
                case "Flatten" -> {
                    if (in != null) {
                        long[] shape = types.get(node.getInput(0)).shape();
                        if (OnnxHelper.getInt(node, "axis", 1) != 1) {
                            throw new InvalidModelException("cannot narrow through " + GraphIndex.describe(node)
                                    + " (axis other than 1); give a student model");
                        }
                        long spatial = 1;
                        for (int i = 2; i < shape.length; i++) {
                            if (shape[i] < 0) {
                                throw new InvalidModelException("cannot narrow through " + GraphIndex.describe(node)
                                        + ": its input's spatial size is not static");
                            }
                            spatial *= shape[i];
                        }
                        narrowedValues.put(node.getOutput(0), new long[] {in[0] * spatial, in[1] * spatial});
                    }
                }
                case "Add", "Sub", "Mul", "Div" -> {
                    long[] found = null;
                    for (String input : node.getInputList()) {
                        long[] n = narrowedValues.get(input);
                        if (n != null) {
                            if (found != null && found[1] != n[1]) {
                                throw new InvalidModelException("cannot narrow " + GraphIndex.describe(node)
                                        + ": its operands narrow differently");
                            }
                            found = n;
                        }
                    }
                    if (found != null) {
                        for (String input : node.getInputList()) {
                            if (index.isInitializer(input)) {
                                long[] d = dims(index, input, node);
                                long[] shape = d.clone();
                                for (int i = 0; i < shape.length; i++) {
                                    if (shape[i] == found[0]) {
                                        shape[i] = found[1];
                                    }
                                }
                                newShapes.put(input, shape);
                            }
                        }
                        narrowedValues.put(node.getOutput(0), found);
                    }
                }
                case "Concat" -> {
                    long axis = OnnxHelper.getInt(node, "axis", 0);
                    boolean any = node.getInputList().stream().anyMatch(narrowedValues::containsKey);
                    if (any) {
                        if (axis != 1) {
                            throw new InvalidModelException("cannot narrow " + GraphIndex.describe(node)
                                    + " along an axis other than the channels");
                        }
                        long before = 0;
                        long after = 0;
                        for (String input : node.getInputList()) {
                            long[] n = narrowedValues.get(input);
                            long c = n != null ? n[1] : types.get(input).shape()[1];
                            before += n != null ? n[0] : c;
                            after += c;
                        }
                        narrowedValues.put(node.getOutput(0), new long[] {before, after});
                    }
                }
                default -> {
                    if (CHANNEL_PRESERVING.contains(op)) {
                        if (in != null) {
                            narrowedValues.put(node.getOutput(0), in);
                        }
                    } else {
                        for (String input : node.getInputList()) {
                            if (narrowedValues.containsKey(input)) {
                                throw new InvalidModelException("cannot narrow through " + GraphIndex.describe(node)
                                        + "; give a student model");
                            }
                        }
                    }
                }
            }
        }
        OnnxModel student = reinitialised(teacher, index, newShapes, seed);
        if (groups.isEmpty()) {
            return student;
        }
        GraphEditor editor = GraphEditor.of(student.graph());
        for (NodeHandle handle : editor.handles()) {
            NodeProto node = editor.node(handle);
            for (var e : groups.entrySet()) {
                if (e.getKey().getName().equals(node.getName()) && e.getKey().getOutputList().equals(node.getOutputList())) {
                    NodeProto.Builder b = node.toBuilder();
                    for (int i = 0; i < b.getAttributeCount(); i++) {
                        if (b.getAttribute(i).getName().equals("group")) {
                            b.setAttribute(i, OnnxHelper.attr("group", e.getValue()));
                        }
                    }
                    editor.set(handle, b.build());
                }
            }
        }
        return student.withGraph(editor.build());
    }

    /** Weighted nodes with no weighted node downstream: they produce the model's outputs. */
    private static Set<NodeProto> lastWeighted(GraphIndex index, List<NodeProto> order) {
        Set<NodeProto> last = new HashSet<>();
        Map<String, Boolean> weightedDownstream = new HashMap<>();
        for (int i = order.size() - 1; i >= 0; i--) {
            NodeProto node = order.get(i);
            boolean downstream = false;
            for (String out : node.getOutputList()) {
                for (NodeProto consumer : index.consumers(out)) {
                    downstream |= WEIGHTED.contains(consumer.getOpType())
                            || weightedDownstream.getOrDefault(consumer.getName() + "#" + consumer.getOutput(0), false);
                }
            }
            weightedDownstream.put(node.getName() + "#" + node.getOutput(0), downstream);
            if (WEIGHTED.contains(node.getOpType()) && !downstream) {
                last.add(node);
            }
        }
        return last;
    }

    private static long[] dims(GraphIndex index, String name, NodeProto node) {
        TensorProto t = index.initializer(name).orElseThrow(() -> new InvalidModelException(
                "cannot narrow " + GraphIndex.describe(node) + ": its weight '" + name + "' is not an initializer"));
        long[] dims = t.getDimsList().stream().mapToLong(Long::longValue).toArray();
        if (java.util.Arrays.stream(dims).anyMatch(d -> d <= 0)) {
            throw new InvalidModelException("cannot narrow " + GraphIndex.describe(node) + ": its weight '" + name
                    + "' of shape " + java.util.Arrays.toString(dims) + " has no values");
        }
        // Narrowing a weight for one consumer would break the others: the student's shapes would not agree.
        List<NodeProto> users = index.consumers(name);
        if (users.size() > 1) {
            throw new InvalidModelException("cannot narrow " + GraphIndex.describe(node) + ": its weight '" + name
                    + "' is shared with " + GraphIndex.describe(users.get(users.get(0).equals(node) ? 1 : 0))
                    + "; give a student model");
        }
        return dims;
    }

    private static long[] concat(long[] head, long[] source, int from) {
        long[] out = new long[head.length + source.length - from];
        System.arraycopy(head, 0, out, 0, head.length);
        System.arraycopy(source, from, out, head.length, source.length - from);
        return out;
    }

    /** Every float initializer fed to a weighted or normalization node, re-created at its (new) shape. */
    private static OnnxModel reinitialised(OnnxModel teacher, GraphIndex index, Map<String, long[]> newShapes, long seed) {
        Random random = new Random(seed);
        GraphEditor editor = GraphEditor.of(teacher.graph());
        for (TensorProto init : teacher.graph().getInitializerList()) {
            if (init.getDataType() != DataType.FLOAT.code()) {
                continue;
            }
            String name = init.getName();
            NodeProto user = null;
            int position = -1;
            for (NodeProto consumer : index.consumers(name)) {
                int at = consumer.getInputList().indexOf(name);
                if (WEIGHTED.contains(consumer.getOpType()) || consumer.getOpType().equals("BatchNormalization")
                        || newShapes.containsKey(name)) {
                    user = consumer;
                    position = at;
                    break;
                }
            }
            if (user == null) {
                continue;
            }
            long[] shape = newShapes.getOrDefault(name, init.getDimsList().stream().mapToLong(Long::longValue).toArray());
            int count = Math.toIntExact(Arrays.stream(shape).reduce(1, (x, y) -> x * y));
            float[] values = new float[count];
            String op = user.getOpType();
            if (op.equals("BatchNormalization")) {
                Arrays.fill(values, position == 1 || position == 4 ? 1f : 0f);
            } else if (WEIGHTED.contains(op) && position == 1) {
                long fanIn = fanIn(user, shape);
                double bound = Math.sqrt(6.0 / Math.max(1, fanIn));
                for (int i = 0; i < count; i++) {
                    values[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
                }
            }
            // Biases (and broadcast operands of narrowed Adds) start at zero.
            editor.putInitializer(Tensor.ofFloats(shape, values).toProto(name));
        }
        // Shapes recorded for intermediate values no longer hold; ONNX Runtime infers them again.
        editor.graph().clearValueInfo();
        return teacher.withGraph(editor.build());
    }

    private static long fanIn(NodeProto node, long[] shape) {
        if (node.getOpType().equals("Conv")) {
            long fan = 1;
            for (int i = 1; i < shape.length; i++) {
                fan *= shape[i];
            }
            return fan;
        }
        boolean transB = node.getOpType().equals("Gemm") && OnnxHelper.getInt(node, "transB", 0) == 1;
        return transB ? shape[1] : shape[shape.length - 2];
    }
}
