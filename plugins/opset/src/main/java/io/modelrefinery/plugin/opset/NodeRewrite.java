package io.modelrefinery.plugin.opset;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * One node being rewritten for another operator set: its attributes and inputs can change, and it can
 * become several nodes. What the rules need from the rest of the model (constant values, shapes, new
 * initializers, fresh names) comes through {@link OpsetConversion.Scope}.
 */
final class NodeRewrite {
    private final NodeProto.Builder node;
    private final OpsetConversion.Scope scope;
    private final List<NodeProto> before = new ArrayList<>();
    private final List<NodeProto> after = new ArrayList<>();
    private List<NodeProto> replacement;

    NodeRewrite(NodeProto node, OpsetConversion.Scope scope) {
        this.node = node.toBuilder();
        this.scope = scope;
    }

    String opType() {
        return node.getOpType();
    }

    /** Makes the node another operator (one that was renamed, or replaced by a successor). */
    void setOpType(String opType) {
        node.setOpType(opType);
    }

    /** The node as described in messages: {@code Split node 'split_1'}. */
    String describe() {
        return GraphIndex.describe(node.build());
    }

    /** Stops the conversion: the node cannot be expressed in the target operator set. */
    InvalidInputException refuse(String why) {
        return new InvalidInputException(describe() + " cannot be converted to opset " + scope.target() + ": " + why);
    }

    // ---------------------------------------------------------------- attributes

    Optional<AttributeProto> attribute(String name) {
        for (AttributeProto a : node.getAttributeList()) {
            if (a.getName().equals(name)) {
                return Optional.of(a);
            }
        }
        return Optional.empty();
    }

    long intAttribute(String name, long defaultValue) {
        return attribute(name).map(AttributeProto::getI).orElse(defaultValue);
    }

    String stringAttribute(String name, String defaultValue) {
        return attribute(name).map(a -> a.getS().toStringUtf8()).orElse(defaultValue);
    }

    float floatAttribute(String name, float defaultValue) {
        return attribute(name).map(AttributeProto::getF).orElse(defaultValue);
    }

    List<Float> floatsAttribute(String name) {
        return attribute(name).map(AttributeProto::getFloatsList).orElse(List.of());
    }

    List<Long> intsAttribute(String name) {
        return attribute(name).map(AttributeProto::getIntsList).orElse(List.of());
    }

    void removeAttribute(String name) {
        for (int i = node.getAttributeCount() - 1; i >= 0; i--) {
            if (node.getAttribute(i).getName().equals(name)) {
                node.removeAttribute(i);
            }
        }
    }

    void setAttribute(AttributeProto attribute) {
        removeAttribute(attribute.getName());
        node.addAttribute(attribute);
    }

    // ---------------------------------------------------------------- inputs

    int inputCount() {
        return node.getInputCount();
    }

    /** Input {@code i}'s name, or empty when it is absent or left empty (an omitted optional input). */
    Optional<String> input(int i) {
        return i < node.getInputCount() && !node.getInput(i).isEmpty() ? Optional.of(node.getInput(i)) : Optional.empty();
    }

    String output(int i) {
        return node.getOutput(i);
    }

    /** Output {@code i}'s name, or empty when the node does not produce it. */
    Optional<String> optionalOutput(int i) {
        return i < node.getOutputCount() && !node.getOutput(i).isEmpty() ? Optional.of(node.getOutput(i))
                : Optional.empty();
    }

    /** Renames output {@code i}; a node added after this one then produces the old name. */
    void setOutput(int i, String name) {
        node.setOutput(i, name);
    }

    /** Drops the outputs from {@code i} on. */
    void truncateOutputs(int count) {
        List<String> outputs = new ArrayList<>(node.getOutputList().subList(0, Math.min(count, node.getOutputCount())));
        node.clearOutput().addAllOutput(outputs);
    }

    int outputCount() {
        return node.getOutputCount();
    }

    /** Sets input {@code i}, padding skipped optional inputs with empty names. */
    void setInput(int i, String name) {
        while (node.getInputCount() <= i) {
            node.addInput("");
        }
        node.setInput(i, name);
    }

    /** Drops input {@code i} and any empty inputs that end the list. */
    void removeInput(int i) {
        List<String> inputs = new ArrayList<>(node.getInputList());
        if (i < inputs.size()) {
            inputs.set(i, "");
        }
        while (!inputs.isEmpty() && inputs.get(inputs.size() - 1).isEmpty()) {
            inputs.remove(inputs.size() - 1);
        }
        node.clearInput().addAllInput(inputs);
    }

    /** The value of an input computed from constants only, if it is one. */
    Optional<Tensor> constantInput(int i) {
        return input(i).flatMap(scope::constant);
    }

    /** The integers of a constant input; refuses the node when the input is computed at run time. */
    long[] requireConstantInts(int i, String what) {
        return constantInput(i).map(Tensor::toLongArray)
                .orElseThrow(() -> refuse(what + " is computed at run time, and must be known to move it"));
    }

    /** Rank of input {@code i} from shape inference; refuses the node when it is unknown. */
    int requireRank(int i, String why) {
        return input(i).flatMap(scope::shape).map(s -> s.length)
                .orElseThrow(() -> refuse("the rank of its input is unknown, and is needed " + why));
    }

    /** Rank of input {@code i}, if known. */
    Optional<Integer> rank(int i) {
        return input(i).flatMap(scope::shape).map(s -> s.length);
    }

    /** Dimension {@code axis} of input {@code i}, or -1 when unknown. */
    long dim(int i, int axis) {
        Optional<long[]> shape = input(i).flatMap(scope::shape);
        if (shape.isEmpty()) {
            return -1;
        }
        long[] s = shape.get();
        int a = axis < 0 ? axis + s.length : axis;
        return a >= 0 && a < s.length ? s[a] : -1;
    }

    DataType elementType(int i) {
        return input(i).flatMap(scope::elementType).orElse(DataType.FLOAT);
    }

    /** A new initializer; returns its name. */
    String constant(Tensor value, String hint) {
        return scope.addInitializer(value, node.getName().isEmpty() ? hint : node.getName() + "_" + hint);
    }

    String freshName(String hint) {
        return scope.freshName((node.getName().isEmpty() ? node.getOutput(0) : node.getName()) + "_" + hint);
    }

    /** Adds a node computed before this one (reading this node's inputs, feeding it). */
    void addBefore(NodeProto extra) {
        before.add(extra);
    }

    /** Adds a node computed after this one (reading its outputs). */
    void addAfter(NodeProto extra) {
        after.add(extra);
    }

    /** Replaces the node by {@code nodes} (which must produce its outputs). */
    void replaceWith(List<NodeProto> nodes) {
        replacement = List.copyOf(nodes);
    }

    /** Makes the node an Identity of its first input. */
    void replaceWithIdentity() {
        replaceWith(List.of(OnnxHelper.node("Identity", List.of(node.getInput(0)), List.of(node.getOutput(0)))));
    }

    void note(String text) {
        scope.note(describe() + ": " + text);
    }

    List<NodeProto> result() {
        List<NodeProto> out = new ArrayList<>(before);
        out.addAll(replacement != null ? replacement : List.of(node.build()));
        out.addAll(after);
        return out;
    }
}
