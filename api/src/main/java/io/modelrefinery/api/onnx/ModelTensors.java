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

    /** A copy of {@code model} with every tensor passed through {@code rewriter}; everything else kept. */
    public static ModelProto rewrite(ModelProto model, Rewriter rewriter) {
        ModelProto.Builder builder = model.toBuilder();
        if (model.hasGraph()) {
            builder.setGraph(rewrite(model.getGraph(), rewriter));
        }
        for (int i = 0; i < model.getFunctionsCount(); i++) {
            FunctionProto function = model.getFunctions(i);
            FunctionProto.Builder fb = function.toBuilder();
            for (int j = 0; j < function.getNodeCount(); j++) {
                fb.setNode(j, rewrite(function.getNode(j), "function '" + function.getName() + "'", rewriter));
            }
            builder.setFunctions(i, fb);
        }
        for (int i = 0; i < model.getTrainingInfoCount(); i++) {
            TrainingInfoProto info = model.getTrainingInfo(i);
            TrainingInfoProto.Builder ib = info.toBuilder();
            if (info.hasInitialization()) {
                ib.setInitialization(rewrite(info.getInitialization(), rewriter));
            }
            if (info.hasAlgorithm()) {
                ib.setAlgorithm(rewrite(info.getAlgorithm(), rewriter));
            }
            builder.setTrainingInfo(i, ib);
        }
        return builder.build();
    }

    public static GraphProto rewrite(GraphProto graph, Rewriter rewriter) {
        GraphProto.Builder builder = graph.toBuilder();
        for (int i = 0; i < graph.getInitializerCount(); i++) {
            TensorProto init = graph.getInitializer(i);
            builder.setInitializer(i, rewriter.rewrite(init, "initializer '" + init.getName() + "'"));
        }
        for (int i = 0; i < graph.getSparseInitializerCount(); i++) {
            SparseTensorProto sparse = graph.getSparseInitializer(i);
            builder.setSparseInitializer(i, rewrite(sparse, "sparse initializer '" + sparse.getValues().getName() + "'",
                    rewriter));
        }
        String graphName = graph.getName().isEmpty() ? "graph" : "graph '" + graph.getName() + "'";
        for (int i = 0; i < graph.getNodeCount(); i++) {
            builder.setNode(i, rewrite(graph.getNode(i), graphName, rewriter));
        }
        return builder.build();
    }

    private static NodeProto rewrite(NodeProto node, String scope, Rewriter rewriter) {
        if (node.getAttributeCount() == 0) {
            return node;
        }
        NodeProto.Builder builder = node.toBuilder();
        String nodeName = GraphIndex.describe(node);
        for (int i = 0; i < node.getAttributeCount(); i++) {
            AttributeProto attr = node.getAttribute(i);
            String where = "attribute '" + attr.getName() + "' of " + nodeName + " in " + scope;
            AttributeProto.Builder ab = attr.toBuilder();
            if (attr.hasT()) {
                ab.setT(rewriter.rewrite(attr.getT(), where));
            }
            for (int j = 0; j < attr.getTensorsCount(); j++) {
                ab.setTensors(j, rewriter.rewrite(attr.getTensors(j), where + " [" + j + "]"));
            }
            if (attr.hasSparseTensor()) {
                ab.setSparseTensor(rewrite(attr.getSparseTensor(), where, rewriter));
            }
            for (int j = 0; j < attr.getSparseTensorsCount(); j++) {
                ab.setSparseTensors(j, rewrite(attr.getSparseTensors(j), where + " [" + j + "]", rewriter));
            }
            if (attr.hasG()) {
                ab.setG(rewrite(attr.getG(), rewriter));
            }
            for (int j = 0; j < attr.getGraphsCount(); j++) {
                ab.setGraphs(j, rewrite(attr.getGraphs(j), rewriter));
            }
            builder.setAttribute(i, ab);
        }
        return builder.build();
    }

    private static SparseTensorProto rewrite(SparseTensorProto sparse, String where, Rewriter rewriter) {
        SparseTensorProto.Builder builder = sparse.toBuilder();
        if (sparse.hasValues()) {
            builder.setValues(rewriter.rewrite(sparse.getValues(), where + " values"));
        }
        if (sparse.hasIndices()) {
            builder.setIndices(rewriter.rewrite(sparse.getIndices(), where + " indices"));
        }
        return builder.build();
    }
}
