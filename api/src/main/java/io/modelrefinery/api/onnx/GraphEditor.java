package io.modelrefinery.api.onnx;

import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.TypeProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Edits a copy of a graph: replace, add and remove nodes, set initializers, add outputs, rename values.
 * The source graph is never changed; {@link #build()} returns the edited graph with its nodes in
 * topological order. Not thread-safe: one editor per transform call.
 */
public final class GraphEditor {
    private final GraphProto.Builder graph;
    private final List<NodeProto> nodes;
    private final Set<String> usedNames = new HashSet<>();

    private GraphEditor(GraphProto source) {
        this.graph = source.toBuilder();
        this.nodes = new ArrayList<>(source.getNodeList());
        graph.clearNode();
        for (NodeProto node : nodes) {
            usedNames.addAll(node.getOutputList());
            usedNames.add(node.getName());
        }
        for (ValueInfoProto v : source.getInputList()) {
            usedNames.add(v.getName());
        }
        for (ValueInfoProto v : source.getValueInfoList()) {
            usedNames.add(v.getName());
        }
        for (TensorProto t : source.getInitializerList()) {
            usedNames.add(t.getName());
        }
    }

    public static GraphEditor of(GraphProto graph) {
        return new GraphEditor(graph);
    }

    /** The nodes as edited so far, in their current order. */
    public List<NodeProto> nodes() {
        return List.copyOf(nodes);
    }

    /** Replaces {@code old} by {@code replacements} at its position. */
    public GraphEditor replaceNode(NodeProto old, List<NodeProto> replacements) {
        int at = indexOf(old);
        nodes.remove(at);
        nodes.addAll(at, replacements);
        remember(replacements);
        return this;
    }

    public GraphEditor replaceNode(NodeProto old, NodeProto... replacements) {
        return replaceNode(old, List.of(replacements));
    }

    public GraphEditor removeNode(NodeProto node) {
        nodes.remove(indexOf(node));
        return this;
    }

    /** Appends a node; {@link #build()} moves it after the producers of its inputs. */
    public GraphEditor addNode(NodeProto node) {
        nodes.add(node);
        remember(List.of(node));
        return this;
    }

    /** Adds an initializer, or replaces the one with the same name. */
    public GraphEditor putInitializer(TensorProto tensor) {
        for (int i = 0; i < graph.getInitializerCount(); i++) {
            if (graph.getInitializer(i).getName().equals(tensor.getName())) {
                graph.setInitializer(i, tensor);
                return this;
            }
        }
        graph.addInitializer(tensor);
        usedNames.add(tensor.getName());
        return this;
    }

    /** Removes an initializer and the graph input of the same name, if any. */
    public GraphEditor removeInitializer(String name) {
        for (int i = graph.getInitializerCount() - 1; i >= 0; i--) {
            if (graph.getInitializer(i).getName().equals(name)) {
                graph.removeInitializer(i);
            }
        }
        for (int i = graph.getInputCount() - 1; i >= 0; i--) {
            if (graph.getInput(i).getName().equals(name)) {
                graph.removeInput(i);
            }
        }
        return this;
    }

    /** Makes {@code value} a graph output (no type: ONNX Runtime infers it). Does nothing if it is one. */
    public GraphEditor addOutput(String value) {
        return addOutput(ValueInfoProto.newBuilder().setName(value).build());
    }

    public GraphEditor addOutput(ValueInfoProto output) {
        for (ValueInfoProto existing : graph.getOutputList()) {
            if (existing.getName().equals(output.getName())) {
                return this;
            }
        }
        graph.addOutput(output);
        return this;
    }

    /** Makes every node input that reads {@code value} read {@code replacement} instead (not graph outputs). */
    public GraphEditor replaceUses(String value, String replacement) {
        for (int i = 0; i < nodes.size(); i++) {
            NodeProto node = nodes.get(i);
            if (!node.getInputList().contains(value)) {
                continue;
            }
            NodeProto.Builder b = node.toBuilder();
            for (int j = 0; j < b.getInputCount(); j++) {
                if (b.getInput(j).equals(value)) {
                    b.setInput(j, replacement);
                }
            }
            nodes.set(i, b.build());
        }
        return this;
    }

    /** Sets the element type of a graph input, output or value_info entry, keeping its shape. */
    public GraphEditor setElementType(String value, DataType type) {
        updateType(graph.getInputBuilderList(), value, type);
        updateType(graph.getOutputBuilderList(), value, type);
        updateType(graph.getValueInfoBuilderList(), value, type);
        return this;
    }

    private static void updateType(List<ValueInfoProto.Builder> infos, String value, DataType type) {
        for (ValueInfoProto.Builder info : infos) {
            if (info.getName().equals(value) && info.getType().hasTensorType()) {
                TypeProto.Builder t = info.getTypeBuilder();
                t.getTensorTypeBuilder().setElemType(type.code());
            }
        }
    }

    /** Direct access to the graph's inputs, outputs, value_info and metadata. */
    public GraphProto.Builder graph() {
        return graph;
    }

    /** A value or node name not used anywhere in the graph yet, derived from {@code base}. */
    public String freshName(String base) {
        String candidate = base;
        for (int i = 1; usedNames.contains(candidate); i++) {
            candidate = base + "_" + i;
        }
        usedNames.add(candidate);
        return candidate;
    }

    /** The edited graph, nodes in topological order. */
    public GraphProto build() {
        GraphProto unsorted = graph.clone().clearNode().addAllNode(nodes).build();
        List<NodeProto> sorted = GraphIndex.of(unsorted).topologicalOrder();
        return unsorted.toBuilder().clearNode().addAllNode(sorted).build();
    }

    private int indexOf(NodeProto node) {
        int at = nodes.indexOf(node);
        if (at < 0) {
            throw new IllegalArgumentException(GraphIndex.describe(node) + " is not in this graph");
        }
        return at;
    }

    private void remember(List<NodeProto> added) {
        for (NodeProto node : added) {
            usedNames.addAll(node.getOutputList());
            usedNames.add(node.getName());
        }
    }
}
