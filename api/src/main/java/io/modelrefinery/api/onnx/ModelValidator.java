package io.modelrefinery.api.onnx;

import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.ModelProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.OperatorSetIdProto;
import io.modelrefinery.api.onnx.proto.Onnx.SparseTensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * Structural checks run before a model reaches ONNX Runtime, whose native code does not always survive
 * inconsistent input: supported IR version, operator sets, tensor data that matches its type and dims,
 * every value defined exactly once, every node input defined, no cycles, every graph output produced,
 * recursively through subgraphs. The first problem found is thrown, naming the node or tensor.
 *
 * <p>This is not ONNX's full checker: operator schemas and type inference are left to ONNX Runtime,
 * which reports those problems cleanly.
 */
public final class ModelValidator {
    /** Oldest IR version accepted: the first with operator set imports. */
    public static final long MIN_IR_VERSION = 3;
    /** Newest IR version this build knows. */
    public static final long MAX_IR_VERSION = 14;

    private ModelValidator() {
    }

    /**
     * Checks {@code model}.
     *
     * @throws InvalidModelException describing the first problem found
     */
    public static void validate(OnnxModel model) {
        ModelProto proto = model.proto();
        long ir = proto.getIrVersion();
        if (ir < MIN_IR_VERSION || ir > MAX_IR_VERSION) {
            throw new InvalidModelException("unsupported IR version " + ir + " (supported: " + MIN_IR_VERSION
                    + " to " + MAX_IR_VERSION + ")");
        }
        Set<String> domains = new HashSet<>();
        for (OperatorSetIdProto opset : proto.getOpsetImportList()) {
            String domain = OnnxModel.normalizeDomain(opset.getDomain());
            if (!domains.add(domain)) {
                throw new InvalidModelException("operator set '" + opset.getDomain() + "' is imported twice");
            }
            if (opset.getVersion() <= 0) {
                throw new InvalidModelException("operator set '" + opset.getDomain() + "' has version "
                        + opset.getVersion());
            }
        }
        if (proto.getOpsetImportCount() == 0) {
            throw new InvalidModelException("model imports no operator set");
        }
        ModelTensors.forEach(proto, (tensor, where) -> checkTensor(model, tensor, where));
        new GraphCheck(domains).check(proto.getGraph(), Set.of(), "main graph");
    }

    private static void checkTensor(OnnxModel model, TensorProto tensor, String where) {
        try {
            model.tensor(tensor);
        } catch (InvalidModelException e) {
            String message = e.getMessage();
            throw new InvalidModelException(message.startsWith(where) ? message : where + ": " + message, e);
        }
    }

    private static final class GraphCheck {
        private final Set<String> domains;

        GraphCheck(Set<String> domains) {
            this.domains = domains;
        }

        void check(GraphProto graph, Set<String> outerScope, String graphName) {
            Map<String, String> definedBy = new HashMap<>();
            for (ValueInfoProto input : graph.getInputList()) {
                if (input.getName().isEmpty()) {
                    throw new InvalidModelException(graphName + " has an input without a name");
                }
                if (definedBy.put(input.getName(), "graph input") != null) {
                    throw new InvalidModelException(graphName + " has two inputs named '" + input.getName() + "'");
                }
            }
            Set<String> initializerNames = new HashSet<>();
            for (TensorProto init : graph.getInitializerList()) {
                defineInitializer(init.getName(), initializerNames, definedBy, graphName);
            }
            for (SparseTensorProto sparse : graph.getSparseInitializerList()) {
                defineInitializer(sparse.getValues().getName(), initializerNames, definedBy, graphName);
            }
            for (NodeProto node : graph.getNodeList()) {
                String nodeName = GraphIndex.describe(node);
                if (node.getOpType().isEmpty()) {
                    throw new InvalidModelException(nodeName + " in " + graphName + " has no op_type");
                }
                if (!domains.contains(OnnxModel.normalizeDomain(node.getDomain()))) {
                    throw new InvalidModelException(nodeName + " uses operator domain '" + node.getDomain()
                            + "', which the model does not import");
                }
                for (String out : node.getOutputList()) {
                    if (out.isEmpty()) {
                        continue;
                    }
                    String previous = definedBy.put(out, nodeName);
                    if (previous != null) {
                        throw new InvalidModelException("value '" + out + "' is defined twice in " + graphName
                                + ": by " + previous + " and by " + nodeName);
                    }
                }
            }
            Set<String> visible = new HashSet<>(outerScope);
            visible.addAll(definedBy.keySet());
            for (NodeProto node : graph.getNodeList()) {
                for (String in : node.getInputList()) {
                    if (!in.isEmpty() && !visible.contains(in)) {
                        throw new InvalidModelException(GraphIndex.describe(node) + " in " + graphName + " reads '"
                                + in + "', which no node, graph input or initializer defines");
                    }
                }
                for (AttributeProto attr : node.getAttributeList()) {
                    String sub = "subgraph '" + attr.getName() + "' of " + GraphIndex.describe(node);
                    if (attr.hasG()) {
                        check(attr.getG(), visible, sub);
                    }
                    for (GraphProto g : attr.getGraphsList()) {
                        check(g, visible, sub);
                    }
                }
            }
            for (ValueInfoProto output : graph.getOutputList()) {
                if (!visible.contains(output.getName())) {
                    throw new InvalidModelException(graphName + " output '" + output.getName()
                            + "' is not produced by any node, input or initializer");
                }
            }
            GraphIndex.of(graph).topologicalOrder();
        }

        private static void defineInitializer(String name, Set<String> initializerNames,
                                              Map<String, String> definedBy, String graphName) {
            if (name.isEmpty()) {
                throw new InvalidModelException(graphName + " has an initializer without a name");
            }
            if (!initializerNames.add(name)) {
                throw new InvalidModelException(graphName + " has two initializers named '" + name + "'");
            }
            // An initializer may also be a graph input: the input's default value (IR 4 and later).
            definedBy.putIfAbsent(name, "initializer");
        }
    }
}
