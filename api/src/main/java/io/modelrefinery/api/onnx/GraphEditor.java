package io.modelrefinery.api.onnx;

import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.TypeProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Edits a copy of a graph: replace, add and remove nodes, set initializers, add outputs, rename values.
 * The source graph is never changed; {@link #build()} returns the edited graph with its nodes in
 * topological order. Not thread-safe: one editor per transform call.
 *
 * <p>Nodes are edited by {@link NodeHandle}: {@link #handles()} lists them (the source graph's nodes first, in its
 * order), {@link #producer(String)} finds one, and {@link #set}, {@link #update}, {@link #replace} and
 * {@link #remove} change it. A handle stays valid while its node is rewritten, where a {@code NodeProto} value
 * goes stale as soon as anything changes it ({@link #replaceUses} included). The older
 * {@link #replaceNode(NodeProto, List)} and {@link #removeNode(NodeProto)} find the node by value and still work.
 */
public final class GraphEditor {
    private final GraphProto.Builder graph;
    private final List<NodeProto> nodes;
    // handles.get(i) names nodes.get(i); the two lists change together.
    private final List<NodeHandle> handles = new ArrayList<>();
    private final Set<String> usedNames = new HashSet<>();

    private GraphEditor(GraphProto source) {
        this.graph = source.toBuilder();
        this.nodes = new ArrayList<>(source.getNodeList());
        graph.clearNode();
        for (NodeProto node : nodes) {
            handles.add(new NodeHandle(this));
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

    /** Handles of the nodes as edited so far, in their current order: right after {@link #of}, the source graph's order. */
    public List<NodeHandle> handles() {
        return List.copyOf(handles);
    }

    /** The node {@code handle} names, as edited so far. */
    public NodeProto node(NodeHandle handle) {
        return nodes.get(indexOf(handle));
    }

    /** The handle of the node that writes {@code value}, if a node does. */
    public Optional<NodeHandle> producer(String value) {
        for (int i = 0; i < nodes.size(); i++) {
            if (nodes.get(i).getOutputList().contains(value)) {
                return Optional.of(handles.get(i));
            }
        }
        return Optional.empty();
    }

    /** The handle of {@code node} as it is now (found by value, for a node read from the source graph). */
    public NodeHandle handle(NodeProto node) {
        return handles.get(indexOf(node));
    }

    /** Makes the node {@code handle} names {@code node}, at its position; the handle stays valid. */
    public GraphEditor set(NodeHandle handle, NodeProto node) {
        nodes.set(indexOf(handle), Objects.requireNonNull(node, "node"));
        remember(List.of(node));
        return this;
    }

    /** Rewrites the node {@code handle} names with {@code edit}, which changes a builder of its current value. */
    public GraphEditor update(NodeHandle handle, Consumer<NodeProto.Builder> edit) {
        NodeProto.Builder b = node(handle).toBuilder();
        edit.accept(b);
        return set(handle, b.build());
    }

    /**
     * Replaces the node {@code handle} names by {@code replacements} at its position; {@code handle} is then no
     * longer valid.
     *
     * @return the replacements' handles, in order
     */
    public List<NodeHandle> replace(NodeHandle handle, List<NodeProto> replacements) {
        return replaceAt(indexOf(handle), replacements);
    }

    /** Removes the node {@code handle} names; the handle is then no longer valid. */
    public GraphEditor remove(NodeHandle handle) {
        int at = indexOf(handle);
        nodes.remove(at);
        handles.remove(at);
        return this;
    }

    /** Appends a node ({@link #build()} moves it after the producers of its inputs) and returns its handle. */
    public NodeHandle add(NodeProto node) {
        NodeHandle handle = new NodeHandle(this);
        nodes.add(Objects.requireNonNull(node, "node"));
        handles.add(handle);
        remember(List.of(node));
        return handle;
    }

    /** Replaces {@code old}, found by value, by {@code replacements} at its position. */
    public GraphEditor replaceNode(NodeProto old, List<NodeProto> replacements) {
        replaceAt(indexOf(old), replacements);
        return this;
    }

    public GraphEditor replaceNode(NodeProto old, NodeProto... replacements) {
        return replaceNode(old, List.of(replacements));
    }

    /** Removes {@code node}, found by value. */
    public GraphEditor removeNode(NodeProto node) {
        return remove(handle(node));
    }

    /** Appends a node; {@link #build()} moves it after the producers of its inputs. */
    public GraphEditor addNode(NodeProto node) {
        add(node);
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

    private List<NodeHandle> replaceAt(int at, List<NodeProto> replacements) {
        nodes.remove(at);
        handles.remove(at);
        List<NodeHandle> added = new ArrayList<>();
        for (int i = 0; i < replacements.size(); i++) {
            added.add(new NodeHandle(this));
        }
        nodes.addAll(at, replacements);
        handles.addAll(at, added);
        remember(replacements);
        return List.copyOf(added);
    }

    private int indexOf(NodeHandle handle) {
        if (Objects.requireNonNull(handle, "handle").editor() != this) {
            throw new IllegalArgumentException(handle + " belongs to another editor");
        }
        int at = handles.indexOf(handle);
        if (at < 0) {
            throw new IllegalArgumentException(handle + " names a node that was replaced or removed");
        }
        return at;
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
