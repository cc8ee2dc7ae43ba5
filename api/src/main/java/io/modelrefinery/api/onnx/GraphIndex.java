package io.modelrefinery.api.onnx;

import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.SparseTensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.PriorityQueue;
import java.util.Set;

/**
 * Read-only lookups over one graph: who produces and who consumes a value, initializers, value infos,
 * and a topological order of the nodes. Built once per graph; build a new index after editing.
 */
public final class GraphIndex {
    private final GraphProto graph;
    private final List<NodeProto> nodes;
    private final Map<String, Integer> producers = new HashMap<>();
    private final Map<String, List<Integer>> consumers = new HashMap<>();
    private final Map<String, TensorProto> initializers = new LinkedHashMap<>();
    private final Map<String, SparseTensorProto> sparseInitializers = new LinkedHashMap<>();
    private final Map<String, ValueInfoProto> valueInfos = new HashMap<>();
    private final Set<String> graphInputs = new LinkedHashSet<>();
    private final Set<String> graphOutputs = new LinkedHashSet<>();

    private GraphIndex(GraphProto graph) {
        this.graph = graph;
        this.nodes = graph.getNodeList();
        for (int i = 0; i < nodes.size(); i++) {
            NodeProto node = nodes.get(i);
            for (String out : node.getOutputList()) {
                if (!out.isEmpty()) {
                    producers.putIfAbsent(out, i);
                }
            }
            for (String in : inputsIncludingSubgraphs(node)) {
                consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(i);
            }
        }
        for (TensorProto init : graph.getInitializerList()) {
            initializers.putIfAbsent(init.getName(), init);
        }
        for (SparseTensorProto sparse : graph.getSparseInitializerList()) {
            sparseInitializers.putIfAbsent(sparse.getValues().getName(), sparse);
        }
        for (ValueInfoProto info : graph.getValueInfoList()) {
            valueInfos.putIfAbsent(info.getName(), info);
        }
        for (ValueInfoProto info : graph.getOutputList()) {
            valueInfos.putIfAbsent(info.getName(), info);
            graphOutputs.add(info.getName());
        }
        for (ValueInfoProto info : graph.getInputList()) {
            valueInfos.put(info.getName(), info);
            graphInputs.add(info.getName());
        }
    }

    public static GraphIndex of(GraphProto graph) {
        return new GraphIndex(graph);
    }

    public GraphProto graph() {
        return graph;
    }

    public List<NodeProto> nodes() {
        return nodes;
    }

    /** The node that outputs {@code value}, if a node does (not for inputs and initializers). */
    public Optional<NodeProto> producer(String value) {
        Integer i = producers.get(value);
        return i == null ? Optional.empty() : Optional.of(nodes.get(i));
    }

    /** The nodes that read {@code value}, directly or from inside one of their subgraphs, in graph order. */
    public List<NodeProto> consumers(String value) {
        List<Integer> idx = consumers.getOrDefault(value, List.of());
        List<NodeProto> out = new ArrayList<>(idx.size());
        for (int i : idx) {
            if (out.isEmpty() || !out.get(out.size() - 1).equals(nodes.get(i))) {
                out.add(nodes.get(i));
            }
        }
        return out;
    }

    public Optional<TensorProto> initializer(String name) {
        return Optional.ofNullable(initializers.get(name));
    }

    public boolean isInitializer(String name) {
        return initializers.containsKey(name) || sparseInitializers.containsKey(name);
    }

    public Map<String, TensorProto> initializers() {
        return Collections.unmodifiableMap(initializers);
    }

    public boolean isGraphInput(String name) {
        return graphInputs.contains(name);
    }

    public boolean isGraphOutput(String name) {
        return graphOutputs.contains(name);
    }

    /** Declared type information of a value: graph input, output or value_info entry. */
    public Optional<ValueInfoProto> valueInfo(String name) {
        return Optional.ofNullable(valueInfos.get(name));
    }

    /** Graph inputs that are not initializers: what a caller has to feed. */
    public List<ValueInfoProto> runtimeInputs() {
        List<ValueInfoProto> out = new ArrayList<>();
        for (ValueInfoProto input : graph.getInputList()) {
            if (!isInitializer(input.getName())) {
                out.add(input);
            }
        }
        return out;
    }

    /** True if some node, graph input or initializer defines {@code name}. */
    public boolean isDefined(String name) {
        return producers.containsKey(name) || graphInputs.contains(name) || isInitializer(name);
    }

    /**
     * The nodes ordered so that each comes after the producers of its inputs, keeping the file order
     * where it already is one.
     *
     * @throws InvalidModelException if the nodes form a cycle, naming a node on it
     */
    public List<NodeProto> topologicalOrder() {
        int n = nodes.size();
        int[] pending = new int[n];
        List<List<Integer>> dependents = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            dependents.add(new ArrayList<>());
        }
        for (int i = 0; i < n; i++) {
            Set<Integer> seen = new LinkedHashSet<>();
            for (String in : inputsIncludingSubgraphs(nodes.get(i))) {
                Integer p = producers.get(in);
                if (p != null && seen.add(p)) {
                    pending[i]++;
                    dependents.get(p).add(i);
                }
            }
        }
        // Smallest file position first, so an already sorted graph keeps its order.
        PriorityQueue<Integer> queue = new PriorityQueue<>();
        for (int i = 0; i < n; i++) {
            if (pending[i] == 0) {
                queue.add(i);
            }
        }
        List<NodeProto> order = new ArrayList<>(n);
        while (!queue.isEmpty()) {
            int i = queue.poll();
            order.add(nodes.get(i));
            for (int d : dependents.get(i)) {
                if (--pending[d] == 0) {
                    queue.add(d);
                }
            }
        }
        if (order.size() < n) {
            for (int i = 0; i < n; i++) {
                if (pending[i] > 0) {
                    throw new InvalidModelException("graph has a cycle through " + describe(nodes.get(i)));
                }
            }
        }
        return order;
    }

    /**
     * The values a node reads: its inputs, and the outer-scope values its subgraphs use (If, Loop and
     * Scan bodies may read any value visible where the node is).
     */
    public static Set<String> inputsIncludingSubgraphs(NodeProto node) {
        Set<String> names = new LinkedHashSet<>();
        for (String in : node.getInputList()) {
            if (!in.isEmpty()) {
                names.add(in);
            }
        }
        for (AttributeProto attr : node.getAttributeList()) {
            if (attr.hasG()) {
                names.addAll(outerScopeReferences(attr.getG()));
            }
            for (GraphProto g : attr.getGraphsList()) {
                names.addAll(outerScopeReferences(g));
            }
        }
        return names;
    }

    /** Names a subgraph reads that it does not define itself. */
    public static Set<String> outerScopeReferences(GraphProto graph) {
        Set<String> defined = new LinkedHashSet<>();
        for (ValueInfoProto in : graph.getInputList()) {
            defined.add(in.getName());
        }
        for (TensorProto init : graph.getInitializerList()) {
            defined.add(init.getName());
        }
        for (SparseTensorProto sparse : graph.getSparseInitializerList()) {
            defined.add(sparse.getValues().getName());
        }
        for (NodeProto node : graph.getNodeList()) {
            defined.addAll(node.getOutputList());
        }
        Set<String> outer = new LinkedHashSet<>();
        for (NodeProto node : graph.getNodeList()) {
            for (String in : inputsIncludingSubgraphs(node)) {
                if (!defined.contains(in)) {
                    outer.add(in);
                }
            }
        }
        for (ValueInfoProto out : graph.getOutputList()) {
            if (!defined.contains(out.getName())) {
                outer.add(out.getName());
            }
        }
        return outer;
    }

    /** A node as error messages name it: {@code Conv node 'conv1'}, or by its first output if unnamed. */
    public static String describe(NodeProto node) {
        String op = node.getOpType().isEmpty() ? "node" : node.getOpType() + " node";
        if (!node.getName().isEmpty()) {
            return op + " '" + node.getName() + "'";
        }
        if (node.getOutputCount() > 0) {
            return "unnamed " + op + " producing '" + node.getOutput(0) + "'";
        }
        return "unnamed " + op;
    }
}
