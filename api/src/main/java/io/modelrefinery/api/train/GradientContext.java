package io.modelrefinery.api.train;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.InvalidModelException;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What a {@link GradientRule} sees of one node while the backward graph is built: the node, the
 * gradients of its outputs, static shapes, and methods that emit nodes into the training graph. One
 * context per node; not thread-safe.
 */
public final class GradientContext {
    private final GraphEditor editor;
    private final Map<String, TensorInfo> types;
    private final long opset;
    private final TrainingOptions options;
    private NodeProto node;
    private boolean replaced;
    private final List<String> outputGradients;
    private final Set<String> differentiable;
    private final String[] inputGradients;
    private final TrainingGraph.Builder owner;

    GradientContext(TrainingGraph.Builder owner, GraphEditor editor, Map<String, TensorInfo> types, long opset,
                    TrainingOptions options, NodeProto node, List<String> outputGradients, Set<String> differentiable) {
        this.owner = owner;
        this.editor = editor;
        this.types = types;
        this.opset = opset;
        this.options = options;
        this.node = node;
        this.outputGradients = outputGradients;
        this.differentiable = differentiable;
        this.inputGradients = new String[node.getInputCount()];
    }

    /** The forward node being differentiated. */
    public NodeProto node() {
        return node;
    }

    /** A name for the node in messages. */
    public String describe() {
        return GraphIndex.describe(node);
    }

    /** The operator set of the default domain the graph uses. */
    public long opset() {
        return opset;
    }

    public TrainingOptions options() {
        return options;
    }

    /** The gradient of output {@code index}, or {@code null} if the loss does not depend on it. */
    public String outputGradient(int index) {
        return index < outputGradients.size() ? outputGradients.get(index) : null;
    }

    public String input(int index) {
        return node.getInput(index);
    }

    public String output(int index) {
        return node.getOutput(index);
    }

    /** True if input {@code index} exists and depends on something trained: set its gradient. */
    public boolean needsGradient(int index) {
        return index < node.getInputCount() && !node.getInput(index).isEmpty()
                && differentiable.contains(node.getInput(index));
    }

    /** Records the gradient of input {@code index}; contributions of several consumers are summed. */
    public void setInputGradient(int index, String gradient) {
        if (needsGradient(index)) {
            inputGradients[index] = gradient;
        }
    }

    String[] inputGradients() {
        return inputGradients;
    }

    /**
     * Replaces the forward node by {@code replacement} nodes (which must produce the node's outputs), for
     * rules that need a different forward computation in training, such as batch statistics.
     */
    public void replaceForward(List<NodeProto> replacement) {
        editor.replaceNode(node, replacement);
        replaced = true;
    }

    /** Makes the forward node produce output {@code index} too (MaxPool's indices) and returns its name. */
    public String forwardOutput(int index, String base) {
        if (index < node.getOutputCount() && !node.getOutput(index).isEmpty()) {
            return node.getOutput(index);
        }
        if (replaced) {
            throw new IllegalStateException("the forward node was replaced");
        }
        NodeProto.Builder b = node.toBuilder();
        while (b.getOutputCount() < index) {
            b.addOutput("");
        }
        String name = editor.freshName(base);
        if (b.getOutputCount() == index) {
            b.addOutput(name);
        } else {
            b.setOutput(index, name);
        }
        NodeProto rewritten = b.build();
        editor.replaceNode(node, rewritten);
        node = rewritten;
        return name;
    }

    // ---------------------------------------------------------------- shapes

    /**
     * The static shape of a value, -1 for dynamic dimensions.
     *
     * @throws InvalidModelException if ONNX Runtime could not infer the value's rank
     */
    public long[] shape(String value) {
        TensorInfo info = types.get(value);
        if (info == null) {
            throw new InvalidModelException("cannot differentiate " + describeNode() + ": the shape of '" + value
                    + "' is unknown");
        }
        return info.shape();
    }

    /** Like {@link #shape} but every dimension from {@code from} on must be static. */
    public long[] staticShape(String value, int from) {
        long[] dims = shape(value);
        for (int i = from; i < dims.length; i++) {
            if (dims[i] < 0) {
                throw new InvalidModelException("cannot differentiate " + describeNode() + ": dimension " + i
                        + " of '" + value + "' is not static " + Arrays.toString(dims));
            }
        }
        return dims;
    }

    public int rank(String value) {
        return shape(value).length;
    }

    private String describeNode() {
        return node == null ? "node" : GraphIndex.describe(node);
    }

    // ---------------------------------------------------------------- emitting

    /** Emits a one-output node and returns its output's name. */
    public String emit(String opType, List<String> inputs, AttributeProto... attributes) {
        return emitMulti(opType, inputs, 1, attributes).get(0);
    }

    public String emit(String opType, String input, AttributeProto... attributes) {
        return emit(opType, List.of(input), attributes);
    }

    public String emit(String opType, String a, String b, AttributeProto... attributes) {
        return emit(opType, List.of(a, b), attributes);
    }

    /** Emits a node with {@code outputs} outputs and returns their names. */
    public List<String> emitMulti(String opType, List<String> inputs, int outputs, AttributeProto... attributes) {
        String base = "grad/" + (node == null ? opType : (node.getName().isEmpty() ? node.getOutput(0) : node.getName()))
                + "/" + opType;
        List<String> names = new ArrayList<>();
        for (int i = 0; i < outputs; i++) {
            names.add(editor.freshName(base));
        }
        NodeProto.Builder b = OnnxHelper.node(opType, inputs, names, attributes).toBuilder()
                .setName(editor.freshName(base + "_node"));
        editor.addNode(b.build());
        return names;
    }

    /** A float scalar constant (an initializer). */
    public String scalar(float value) {
        return owner.constant(Tensor.scalar(value));
    }

    /** A 1-D int64 constant (an initializer), for axes, shapes and slice bounds. */
    public String longs(long... values) {
        return owner.constant(Tensor.ofLongs(new long[] {values.length}, values));
    }

    /** A float constant tensor (an initializer). */
    public String floats(long[] shape, float... values) {
        return owner.constant(Tensor.ofFloats(shape, values));
    }

    /** {@code a * b} with broadcasting. */
    public String mul(String a, String b) {
        return emit("Mul", a, b);
    }

    public String add(String a, String b) {
        return emit("Add", a, b);
    }

    public String sub(String a, String b) {
        return emit("Sub", a, b);
    }

    public String neg(String a) {
        return emit("Neg", a);
    }

    /** Runtime shape of {@code value} as a 1-D int64 tensor. */
    public String shapeOf(String value) {
        return emit("Shape", value);
    }

    /** {@code gradient} reshaped to the runtime shape of {@code like}. */
    public String reshapeLike(String gradient, String like) {
        return emit("Reshape", gradient, shapeOf(like));
    }

    /** Sum over {@code axes}. */
    public String reduceSum(String value, long[] axes, boolean keepDims) {
        return Ops.reduce(this, "ReduceSum", value, axes, keepDims);
    }

    /** Mean over {@code axes}. */
    public String reduceMean(String value, long[] axes, boolean keepDims) {
        return Ops.reduce(this, "ReduceMean", value, axes, keepDims);
    }

    /**
     * The gradient of a broadcast operand: {@code gradient} (shaped like {@code output}) summed over the
     * axes along which {@code input} was broadcast, then shaped like {@code input}.
     */
    public String unbroadcast(String gradient, String input, String output) {
        long[] in = shape(input);
        long[] out = shape(output);
        if (Arrays.equals(in, out) && Arrays.stream(in).allMatch(d -> d >= 0)) {
            return gradient;
        }
        List<Long> axes = new ArrayList<>();
        int lead = out.length - in.length;
        for (int i = 0; i < out.length; i++) {
            if (i < lead) {
                axes.add((long) i);
            } else {
                long di = in[i - lead];
                long dout = out[i];
                if (di == 1 && dout != 1) {
                    axes.add((long) i);
                }
            }
        }
        String summed = axes.isEmpty() ? gradient
                : reduceSum(gradient, axes.stream().mapToLong(Long::longValue).toArray(), true);
        return in.length == 0 ? emit("Reshape", summed, longs()) : reshapeLike(summed, input);
    }

    /** An int attribute of the node, or its default. */
    public long attrInt(String name, long defaultValue) {
        return OnnxHelper.getInt(node, name, defaultValue);
    }

    public float attrFloat(String name, float defaultValue) {
        return OnnxHelper.getFloat(node, name, defaultValue);
    }

    public String attrString(String name, String defaultValue) {
        return OnnxHelper.getString(node, name, defaultValue);
    }

    /** An ints attribute, or {@code defaults} when absent. */
    public long[] attrInts(String name, long[] defaults) {
        List<Long> values = OnnxHelper.getInts(node, name);
        return values.isEmpty() ? defaults : values.stream().mapToLong(Long::longValue).toArray();
    }

    /** A fresh value name. */
    public String fresh(String base) {
        return editor.freshName(base);
    }

    /** The training graph's element type of a value, FLOAT if unknown. */
    public DataType type(String value) {
        TensorInfo info = types.get(value);
        return info == null ? DataType.FLOAT : info.type();
    }

    /** Refuses the node with a one-line message that names it. */
    public InvalidModelException refuse(String why) {
        return new InvalidModelException("cannot differentiate " + describeNode() + ": " + why);
    }

    /** Registers values the trainer reads after each step, such as batch statistics. */
    void addOutput(String value) {
        editor.addOutput(value);
    }

    TrainingGraph.Builder owner() {
        return owner;
    }
}
