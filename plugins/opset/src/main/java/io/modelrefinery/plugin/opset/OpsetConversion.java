package io.modelrefinery.plugin.opset;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.ModelProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.OperatorSetIdProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;
import io.modelrefinery.api.plugin.Cancellation;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Moves a model from one version of the default ONNX operator set to another. Every node whose operator
 * changed its signature between the two versions is rewritten by {@link OpsetRules}, in subgraphs too;
 * every other node stays as it is, since its meaning is the same in both versions. A node the target
 * version cannot express stops the conversion with an {@link InvalidInputException} naming it.
 */
final class OpsetConversion {
    /** Oldest operator set converted to. */
    static final int MIN_OPSET = 13;
    /** Oldest operator set converted from (upward only below {@link #MIN_OPSET}). */
    static final int MIN_SOURCE_OPSET = 6;
    /** Newest operator set ONNX Runtime 1.28 runs. */
    static final int MAX_OPSET = 26;

    private final OnnxModel model;
    private final int source;
    private final int target;
    private final Supplier<Map<String, TensorInfo>> types;
    private final Cancellation cancellation;
    private final Set<String> names = new HashSet<>();
    private final List<String> notes = new ArrayList<>();
    private int rewrittenNodes;

    /**
     * @param types the element types and shapes of the main graph's values, asked only when a rule needs them
     */
    OpsetConversion(OnnxModel model, int target, Supplier<Map<String, TensorInfo>> types, Cancellation cancellation) {
        this.model = model;
        this.source = Math.toIntExact(model.opsetVersion());
        this.target = target;
        this.types = memoize(() -> {
            try {
                return types.get();
            } catch (RuntimeException e) { // a model ONNX Runtime cannot load at its own opset (Add before 7)
                return declaredTypes(model.graph());
            }
        });
        this.cancellation = cancellation;
    }

    /** The types and shapes the graph itself declares for its inputs, outputs and intermediate values. */
    private static Map<String, TensorInfo> declaredTypes(GraphProto graph) {
        Map<String, TensorInfo> declared = new HashMap<>();
        for (List<ValueInfoProto> values : List.of(graph.getInputList(), graph.getValueInfoList(),
                graph.getOutputList())) {
            for (ValueInfoProto v : values) {
                Optional<DataType> type = OnnxHelper.elementType(v);
                Optional<long[]> shape = OnnxHelper.shape(v);
                if (type.isPresent() && shape.isPresent()) {
                    declared.put(v.getName(), new TensorInfo(v.getName(), type.get(), shape.get()));
                }
            }
        }
        return declared;
    }

    int source() {
        return source;
    }

    int rewrittenNodes() {
        return rewrittenNodes;
    }

    List<String> notes() {
        return notes;
    }

    OnnxModel run() {
        if (model.opsetVersion() == 0) {
            throw new InvalidInputException("the model imports no default ONNX operator set");
        }
        if (source < MIN_SOURCE_OPSET || source > MAX_OPSET) {
            throw new InvalidInputException("the model uses opset " + source + "; opsets " + MIN_SOURCE_OPSET + " to "
                    + MAX_OPSET + " can be converted");
        }
        if (model.proto().getFunctionsCount() > 0) {
            throw new InvalidInputException("the model defines local functions, whose operator sets are not converted");
        }
        collectNames(model.graph());
        GraphProto graph = convert(model.graph(), new Scope(null, model.graph(), true));
        ModelProto.Builder proto = model.proto().toBuilder().setGraph(graph);
        for (OperatorSetIdProto.Builder opset : proto.getOpsetImportBuilderList()) {
            if (opset.getDomain().isEmpty() || opset.getDomain().equals("ai.onnx")) {
                opset.setVersion(target);
            }
        }
        proto.setIrVersion(target > source ? Math.max(proto.getIrVersion(), minIrVersion(target)) : minIrVersion(target));
        return model.withProto(proto.build());
    }

    /** The IR version of the ONNX release that introduced operator set {@code opset} (onnx.helper.VERSION_TABLE). */
    static long minIrVersion(int opset) {
        if (opset <= 14) {
            return 7;
        }
        if (opset <= 18) {
            return 8;
        }
        if (opset <= 20) {
            return 9;
        }
        if (opset <= 22) {
            return 10;
        }
        return opset == 23 ? 11 : opset == 24 ? 12 : 13;
    }

    private GraphProto convert(GraphProto graph, Scope scope) {
        List<NodeProto> nodes = new ArrayList<>();
        for (NodeProto node : graph.getNodeList()) {
            cancellation.throwIfCancelled();
            NodeProto withSubgraphs = convertSubgraphs(node, scope);
            if (!withSubgraphs.getDomain().isEmpty() && !withSubgraphs.getDomain().equals("ai.onnx")) {
                nodes.add(withSubgraphs);
                continue;
            }
            NodeRewrite rewrite = new NodeRewrite(withSubgraphs, scope);
            boolean changed = OpsetRules.apply(rewrite, source, target);
            List<NodeProto> result = rewrite.result();
            if (changed) {
                rewrittenNodes++;
            }
            nodes.addAll(result);
            for (NodeProto n : result) {
                scope.constantNodes(n);
            }
        }
        return graph.toBuilder().clearNode().addAllNode(nodes).addAllInitializer(scope.added).build();
    }

    private NodeProto convertSubgraphs(NodeProto node, Scope scope) {
        boolean hasGraph = node.getAttributeList().stream().anyMatch(a -> a.hasG() || a.getGraphsCount() > 0);
        if (!hasGraph) {
            return node;
        }
        NodeProto.Builder b = node.toBuilder();
        for (AttributeProto.Builder a : b.getAttributeBuilderList()) {
            if (a.hasG()) {
                a.setG(convert(a.getG(), new Scope(scope, a.getG(), false)));
            }
            for (int i = 0; i < a.getGraphsCount(); i++) {
                a.setGraphs(i, convert(a.getGraphs(i), new Scope(scope, a.getGraphs(i), false)));
            }
        }
        return b.build();
    }

    private void collectNames(GraphProto graph) {
        graph.getInputList().forEach(v -> names.add(v.getName()));
        graph.getInitializerList().forEach(t -> names.add(t.getName()));
        for (NodeProto node : graph.getNodeList()) {
            names.addAll(node.getOutputList());
            names.add(node.getName());
            for (AttributeProto a : node.getAttributeList()) {
                if (a.hasG()) {
                    collectNames(a.getG());
                }
                a.getGraphsList().forEach(this::collectNames);
            }
        }
    }

    /** What a rule may know about the graph a node lives in, and what it may add to it. */
    final class Scope {
        private final Scope outer;
        private final boolean main;
        private final Map<String, TensorProto> initializers = new HashMap<>();
        private final Map<String, Tensor> constantNodes = new HashMap<>();
        private final List<TensorProto> added = new ArrayList<>();

        Scope(Scope outer, GraphProto graph, boolean main) {
            this.outer = outer;
            this.main = main;
            Set<String> inputs = new HashSet<>();
            graph.getInputList().stream().map(ValueInfoProto::getName).forEach(inputs::add);
            for (TensorProto t : graph.getInitializerList()) {
                if (!inputs.contains(t.getName())) { // an initializer that is also an input can be overridden
                    initializers.put(t.getName(), t);
                }
            }
        }

        int target() {
            return target;
        }

        /** The value of {@code name} if it is an initializer or the output of a Constant node, here or outside. */
        Optional<Tensor> constant(String name) {
            TensorProto init = initializers.get(name);
            if (init != null) {
                return Optional.of(model.tensor(init));
            }
            Tensor fromNode = constantNodes.get(name);
            if (fromNode != null) {
                return Optional.of(fromNode);
            }
            return outer == null ? Optional.empty() : outer.constant(name);
        }

        /** The static shape of a main-graph value (-1 for unknown dimensions), if ONNX Runtime infers one. */
        Optional<long[]> shape(String name) {
            Optional<Tensor> constant = constant(name);
            if (constant.isPresent()) {
                return Optional.of(constant.get().shape());
            }
            TensorInfo info = main ? types.get().get(name) : null;
            return Optional.ofNullable(info).map(TensorInfo::shape);
        }

        Optional<DataType> elementType(String name) {
            Optional<Tensor> constant = constant(name);
            if (constant.isPresent()) {
                return Optional.of(constant.get().type());
            }
            TensorInfo info = main ? types.get().get(name) : null;
            return Optional.ofNullable(info).map(TensorInfo::type);
        }

        String addInitializer(Tensor value, String hint) {
            String name = freshName(hint);
            TensorProto proto = value.toProto(name);
            added.add(proto);
            initializers.put(name, proto);
            return name;
        }

        String freshName(String hint) {
            String candidate = hint;
            for (int i = 1; names.contains(candidate); i++) {
                candidate = hint + "_" + i;
            }
            names.add(candidate);
            return candidate;
        }

        void note(String text) {
            notes.add(text);
        }

        private void constantNodes(NodeProto node) {
            if (node.getOpType().equals("Constant") && node.getDomain().isEmpty() && node.getOutputCount() == 1) {
                for (AttributeProto a : node.getAttributeList()) {
                    if (a.getName().equals("value") && a.hasT()) {
                        constantNodes.put(node.getOutput(0), Tensor.fromProto(a.getT()));
                    }
                }
            }
        }
    }

    private static <T> Supplier<T> memoize(Supplier<T> supplier) {
        Object[] cache = new Object[1];
        return () -> {
            if (cache[0] == null) {
                cache[0] = supplier.get();
            }
            @SuppressWarnings("unchecked")
            T value = (T) cache[0];
            return value;
        };
    }
}
