package io.modelrefinery.host.ort;

import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.HashSet;
import java.util.Set;

/**
 * Names the nodes whose names ONNX Runtime's optimizer picks in an order that depends on memory addresses, so
 * that one model optimized twice gives the same bytes.
 *
 * <p>At level ALL on a CPU with NCHWc kernels, ONNX Runtime's NCHWc transformer ends by adding a
 * {@code ReorderOutput} node (domain {@code com.microsoft.nchwc}) for each blocked value still read in plain
 * layout. It walks those values in the order of a hash map keyed by their addresses and names each node with
 * the graph's next free name, {@code ReorderOutput}, {@code ReorderOutput_token_5}...: optimizing the sample
 * CNN twice in one process swapped its two such nodes' names, and nothing else differed (the graph, every value
 * name and the node order were equal). Each of these nodes is renamed after the value it writes, which is
 * unique in the graph.
 */
final class OptimizedNodeNames {
    static final String NCHWC_DOMAIN = "com.microsoft.nchwc";
    private static final String REORDER_OUTPUT = "ReorderOutput";

    private OptimizedNodeNames() {
    }

    /** {@code model} with each generated node renamed, in the main graph and in every subgraph (If, Loop, Scan). */
    static OnnxModel normalize(OnnxModel model) {
        Set<String> taken = new HashSet<>();
        collectNames(model.graph(), taken);
        GraphProto renamed = rename(model.graph(), taken);
        return renamed == model.graph() ? model : model.withGraph(renamed);
    }

    /** The names of the nodes ONNX Runtime did not name, in {@code graph} and its subgraphs. */
    private static void collectNames(GraphProto graph, Set<String> taken) {
        for (NodeProto node : graph.getNodeList()) {
            if (!generated(node)) {
                taken.add(node.getName());
            }
            for (AttributeProto attr : node.getAttributeList()) {
                if (attr.hasG()) {
                    collectNames(attr.getG(), taken);
                }
                attr.getGraphsList().forEach(g -> collectNames(g, taken));
            }
        }
    }

    /** {@code graph} itself when nothing in it is renamed. */
    private static GraphProto rename(GraphProto graph, Set<String> taken) {
        GraphProto.Builder renamed = null;
        for (int i = 0; i < graph.getNodeCount(); i++) {
            NodeProto node = graph.getNode(i);
            NodeProto named = generated(node) ? node.toBuilder().setName(freeName(node, taken)).build()
                    : withSubgraphsRenamed(node, taken);
            if (named != node) {
                if (renamed == null) {
                    renamed = graph.toBuilder();
                }
                renamed.setNode(i, named);
            }
        }
        return renamed == null ? graph : renamed.build();
    }

    private static NodeProto withSubgraphsRenamed(NodeProto node, Set<String> taken) {
        NodeProto.Builder changed = null;
        for (int a = 0; a < node.getAttributeCount(); a++) {
            AttributeProto attr = node.getAttribute(a);
            AttributeProto.Builder next = null;
            if (attr.hasG()) {
                GraphProto g = rename(attr.getG(), taken);
                if (g != attr.getG()) {
                    next = attr.toBuilder().setG(g);
                }
            }
            for (int k = 0; k < attr.getGraphsCount(); k++) {
                GraphProto g = rename(attr.getGraphs(k), taken);
                if (g != attr.getGraphs(k)) {
                    next = (next == null ? attr.toBuilder() : next).setGraphs(k, g);
                }
            }
            if (next != null) {
                changed = (changed == null ? node.toBuilder() : changed).setAttribute(a, next);
            }
        }
        return changed == null ? node : changed.build();
    }

    /** The value the node writes, which is unique in the model, and a number where another node has that name. */
    private static String freeName(NodeProto node, Set<String> taken) {
        String base = node.getOutput(0) + "_" + REORDER_OUTPUT;
        String name = base;
        for (int n = 1; !taken.add(name); n++) {
            name = base + "_" + n;
        }
        return name;
    }

    private static boolean generated(NodeProto node) {
        return node.getOpType().equals(REORDER_OUTPUT) && node.getDomain().equals(NCHWC_DOMAIN) && node.getOutputCount() > 0;
    }
}
