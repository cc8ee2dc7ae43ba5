package io.modelrefinery.api.onnx;

import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.api.onnx.proto.Onnx.FunctionProto;
import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.ModelProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.SparseTensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.TrainingInfoProto;

/**
 * Visits or rewrites every tensor a model holds: initializers, sparse initializers, tensor attributes
 * (such as {@code Constant}'s value), in subgraphs, local functions and training graphs alike. Each
 * tensor comes with a description of where it sits, for error messages.
 */
public final class ModelTensors {
    private ModelTensors() {
    }

    /** Receives each tensor with where it sits, for example {@code initializer 'conv1.weight'}. */
    @FunctionalInterface
    public interface Visitor {
        void visit(TensorProto tensor, String where);
    }

    /** Returns the tensor to put in place of {@code tensor}, or {@code tensor} itself to keep it. */
    @FunctionalInterface
    public interface Rewriter {
        TensorProto rewrite(TensorProto tensor, String where);
    }

    public static void forEach(ModelProto model, Visitor visitor) {
        rewrite(model, (tensor, where) -> {
            visitor.visit(tensor, where);
            return tensor;
        });
    }

    public static void forEach(GraphProto graph, Visitor visitor) {
        rewrite(graph, (tensor, where) -> {
            visitor.visit(tensor, where);
            return tensor;
        });
    }

    /**
     * {@code model} with every tensor passed through {@code rewriter}; everything else kept. Parts in which
     * no tensor changes are not copied, so visiting with an identity rewriter costs no allocation.
     */
    public static ModelProto rewrite(ModelProto model, Rewriter rewriter) {
        ModelProto.Builder builder = null;
        if (model.hasGraph()) {
            GraphProto graph = rewrite(model.getGraph(), rewriter);
            if (graph != model.getGraph()) {
                builder = model.toBuilder().setGraph(graph);
            }
        }
        for (int i = 0; i < model.getFunctionsCount(); i++) {
            FunctionProto function = model.getFunctions(i);
            FunctionProto.Builder fb = null;
            for (int j = 0; j < function.getNodeCount(); j++) {
                NodeProto node = rewrite(function.getNode(j), "function '" + function.getName() + "'", rewriter);
                if (node != function.getNode(j)) {
                    fb = fb == null ? function.toBuilder() : fb;
                    fb.setNode(j, node);
                }
            }
            if (fb != null) {
                builder = builder == null ? model.toBuilder() : builder;
                builder.setFunctions(i, fb);
            }
        }
        for (int i = 0; i < model.getTrainingInfoCount(); i++) {
            TrainingInfoProto info = model.getTrainingInfo(i);
            GraphProto init = info.hasInitialization() ? rewrite(info.getInitialization(), rewriter) : null;
            GraphProto algorithm = info.hasAlgorithm() ? rewrite(info.getAlgorithm(), rewriter) : null;
            if (init != (info.hasInitialization() ? info.getInitialization() : null)
                    || algorithm != (info.hasAlgorithm() ? info.getAlgorithm() : null)) {
                TrainingInfoProto.Builder ib = info.toBuilder();
                if (init != null) {
                    ib.setInitialization(init);
                }
                if (algorithm != null) {
                    ib.setAlgorithm(algorithm);
                }
                builder = builder == null ? model.toBuilder() : builder;
                builder.setTrainingInfo(i, ib);
            }
        }
        return builder == null ? model : builder.build();
    }

    public static GraphProto rewrite(GraphProto graph, Rewriter rewriter) {
        GraphProto.Builder builder = null;
        for (int i = 0; i < graph.getInitializerCount(); i++) {
            TensorProto init = graph.getInitializer(i);
            TensorProto rewritten = rewriter.rewrite(init, "initializer '" + init.getName() + "'");
            if (rewritten != init) {
                builder = builder == null ? graph.toBuilder() : builder;
                builder.setInitializer(i, rewritten);
            }
        }
        for (int i = 0; i < graph.getSparseInitializerCount(); i++) {
            SparseTensorProto sparse = graph.getSparseInitializer(i);
            SparseTensorProto rewritten = rewrite(sparse, "sparse initializer '" + sparse.getValues().getName() + "'",
                    rewriter);
            if (rewritten != sparse) {
                builder = builder == null ? graph.toBuilder() : builder;
                builder.setSparseInitializer(i, rewritten);
            }
        }
        String graphName = graph.getName().isEmpty() ? "graph" : "graph '" + graph.getName() + "'";
        for (int i = 0; i < graph.getNodeCount(); i++) {
            NodeProto node = rewrite(graph.getNode(i), graphName, rewriter);
            if (node != graph.getNode(i)) {
                builder = builder == null ? graph.toBuilder() : builder;
                builder.setNode(i, node);
            }
        }
        return builder == null ? graph : builder.build();
    }

    private static NodeProto rewrite(NodeProto node, String scope, Rewriter rewriter) {
        NodeProto.Builder builder = null;
        String nodeName = GraphIndex.describe(node);
        for (int i = 0; i < node.getAttributeCount(); i++) {
            AttributeProto attr = node.getAttribute(i);
            AttributeProto rewritten = rewrite(attr, "attribute '" + attr.getName() + "' of " + nodeName + " in " + scope,
                    rewriter);
            if (rewritten != attr) {
                builder = builder == null ? node.toBuilder() : builder;
                builder.setAttribute(i, rewritten);
            }
        }
        return builder == null ? node : builder.build();
    }

    private static AttributeProto rewrite(AttributeProto attr, String where, Rewriter rewriter) {
        AttributeProto.Builder b = null;
        if (attr.hasT()) {
            TensorProto t = rewriter.rewrite(attr.getT(), where);
            if (t != attr.getT()) {
                b = attr.toBuilder().setT(t);
            }
        }
        for (int j = 0; j < attr.getTensorsCount(); j++) {
            TensorProto t = rewriter.rewrite(attr.getTensors(j), where + " [" + j + "]");
            if (t != attr.getTensors(j)) {
                b = (b == null ? attr.toBuilder() : b).setTensors(j, t);
            }
        }
        if (attr.hasSparseTensor()) {
            SparseTensorProto t = rewrite(attr.getSparseTensor(), where, rewriter);
            if (t != attr.getSparseTensor()) {
                b = (b == null ? attr.toBuilder() : b).setSparseTensor(t);
            }
        }
        for (int j = 0; j < attr.getSparseTensorsCount(); j++) {
            SparseTensorProto t = rewrite(attr.getSparseTensors(j), where + " [" + j + "]", rewriter);
            if (t != attr.getSparseTensors(j)) {
                b = (b == null ? attr.toBuilder() : b).setSparseTensors(j, t);
            }
        }
        if (attr.hasG()) {
            GraphProto g = rewrite(attr.getG(), rewriter);
            if (g != attr.getG()) {
                b = (b == null ? attr.toBuilder() : b).setG(g);
            }
        }
        for (int j = 0; j < attr.getGraphsCount(); j++) {
            GraphProto g = rewrite(attr.getGraphs(j), rewriter);
            if (g != attr.getGraphs(j)) {
                b = (b == null ? attr.toBuilder() : b).setGraphs(j, g);
            }
        }
        return b == null ? attr : b.build();
    }

    private static SparseTensorProto rewrite(SparseTensorProto sparse, String where, Rewriter rewriter) {
        TensorProto values = sparse.hasValues() ? rewriter.rewrite(sparse.getValues(), where + " values") : null;
        TensorProto indices = sparse.hasIndices() ? rewriter.rewrite(sparse.getIndices(), where + " indices") : null;
        boolean same = (values == null || values == sparse.getValues()) && (indices == null || indices == sparse.getIndices());
        if (same) {
            return sparse;
        }
        SparseTensorProto.Builder builder = sparse.toBuilder();
        if (values != null) {
            builder.setValues(values);
        }
        if (indices != null) {
            builder.setIndices(indices);
        }
        return builder.build();
    }
}
