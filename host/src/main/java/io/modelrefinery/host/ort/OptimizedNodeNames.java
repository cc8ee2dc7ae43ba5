package io.modelrefinery.host.ort;

import io.modelrefinery.api.onnx.OnnxModel;
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

    static OnnxModel normalize(OnnxModel model) {
        GraphProto graph = model.graph();
        if (graph.getNodeList().stream().noneMatch(OptimizedNodeNames::generated)) {
            return model;
        }
        Set<String> taken = new HashSet<>();
        for (NodeProto node : graph.getNodeList()) {
            if (!generated(node)) {
                taken.add(node.getName());
            }
        }
        GraphProto.Builder renamed = graph.toBuilder();
        for (int i = 0; i < renamed.getNodeCount(); i++) {
            NodeProto node = renamed.getNode(i);
            if (generated(node)) {
                String base = node.getOutput(0) + "_" + REORDER_OUTPUT;
                String name = base;
                for (int n = 1; !taken.add(name); n++) {
                    name = base + "_" + n;
                }
                renamed.setNode(i, node.toBuilder().setName(name).build());
            }
        }
        return model.withGraph(renamed.build());
    }

    private static boolean generated(NodeProto node) {
        return node.getOpType().equals(REORDER_OUTPUT) && node.getDomain().equals(NCHWC_DOMAIN) && node.getOutputCount() > 0;
    }
}
