package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.OperatorSetIdProto;
import io.modelrefinery.api.plugin.TransformException;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Dynamic quantization: weights stored 8-bit, activations quantized at run time. Each node of an operator
 * type in the settings is rewritten by its handler in {@link QuantOps} ({@link DynamicRewrites}); a node its
 * handler cannot rewrite stays float, and why is kept for the step's notes.
 */
final class DynamicQuantizer {
    /** Domain of ONNX Runtime's own operators (DynamicQuantizeLSTM). */
    static final String MS_DOMAIN = "com.microsoft";

    /** How convolutions are quantized. */
    enum ConvMode {
        /** 8-bit weights behind a DequantizeLinear, float compute: smaller, but slower in ONNX Runtime. */
        WEIGHT_ONLY,
        /** ConvInteger with run-time activation quantization, as ONNX Runtime's tool does. */
        INTEGER,
        /** Convolutions stay float. */
        SKIP
    }

    /**
     * Options.
     *
     * @param weightType int8 (symmetric) or uint8 (asymmetric) weights
     * @param perChannel one scale per output column (MatMul/Gemm), channel (Conv, LSTM gates) or embedding column
     * @param reduceRange 7-bit weights
     * @param conv how convolutions are quantized
     * @param includeOps operator types to quantize
     * @param excludeNodes node names left float
     */
    record Settings(QuantType weightType, boolean perChannel, boolean reduceRange, ConvMode conv,
                    Set<String> includeOps, Set<String> excludeNodes) {
    }

    private final OnnxModel model;
    private final GraphIndex index;
    private final Map<String, TensorInfo> types;
    private final Settings settings;
    private final List<String> quantizedNodes = new ArrayList<>();
    private final List<NodeProto> quantizedLayers = new ArrayList<>();
    /** Why nodes were left float: reason to the nodes it applies to. */
    private final Map<String, List<String>> skipped = new LinkedHashMap<>();
    private boolean usesMsDomain;

    DynamicQuantizer(OnnxModel model, Map<String, TensorInfo> types, Settings settings) {
        this.model = model;
        this.index = GraphIndex.of(model.graph());
        this.types = types;
        this.settings = settings;
    }

    /** Names of the nodes quantized by the last {@link #apply()}. */
    List<String> quantizedNodes() {
        return quantizedNodes;
    }

    /** The nodes of the model quantized by the last {@link #apply()}, as they were. */
    List<NodeProto> quantizedLayers() {
        return quantizedLayers;
    }

    /** What was left float and why, one line per reason, naming the nodes. */
    List<String> skippedNotes() {
        List<String> notes = new ArrayList<>();
        skipped.forEach((reason, nodes) -> notes.add("left float: " + (nodes.size() <= 3 ? String.join(", ", nodes)
                : nodes.size() + " nodes (" + String.join(", ", nodes.subList(0, 2)) + ", ...)") + ": " + reason));
        return notes;
    }

    OnnxModel apply() {
        Context context = new Context(new QdqBuilder(GraphEditor.of(model.graph())));
        for (NodeProto node : index.topologicalOrder()) {
            if (!settings.includeOps().contains(node.getOpType()) || settings.excludeNodes().contains(node.getName())) {
                continue;
            }
            Optional<QuantOps.DynamicRewrite> rewrite = QuantOps.handler(node).dynamicRewrite();
            if (rewrite.isEmpty()) {
                continue;
            }
            Optional<List<NodeProto>> replacement;
            try {
                replacement = rewrite.get().rewrite(context, node);
            } catch (RuntimeException e) {
                throw new TransformException("cannot quantize " + GraphIndex.describe(node) + ": "
                        + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()), false, e);
            }
            if (replacement.isPresent()) {
                context.editor().replaceNode(node, replacement.get());
                quantizedNodes.add(GraphIndex.describe(node));
                quantizedLayers.add(node);
            }
        }
        GraphPreparation.removeUnused(context.editor(), context.replaced);
        OnnxModel out = model.withGraph(context.editor().build());
        return usesMsDomain ? withMsDomain(out) : out;
    }

    private static OnnxModel withMsDomain(OnnxModel model) {
        if (model.proto().getOpsetImportList().stream().anyMatch(o -> o.getDomain().equals(MS_DOMAIN))) {
            return model;
        }
        return model.withProto(model.proto().toBuilder()
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(MS_DOMAIN).setVersion(1)).build());
    }

    /** What a rewrite reads and writes: the model, the settings, the graph being built. */
    final class Context {
        private final QdqBuilder builder;
        /** Activation to its run-time quantized form {q, scale, zero point}, shared by every reader. */
        private final Map<String, String[]> runtimeQuantized = new HashMap<>();
        private final Set<String> replaced = new HashSet<>();

        private Context(QdqBuilder builder) {
            this.builder = builder;
        }

        Settings settings() {
            return settings;
        }

        QdqBuilder builder() {
            return builder;
        }

        GraphEditor editor() {
            return builder.editor();
        }

        /** Per-axis scales need DequantizeLinear's {@code axis}, which opset 13 brought. */
        boolean perAxisAllowed() {
            return model.opsetVersion() >= 13;
        }

        boolean isFloat(String tensor) {
            TensorInfo info = types.get(tensor);
            return info != null && info.type() == DataType.FLOAT;
        }

        /** The float constant {@code name} of rank {@code rank}, if it is one. */
        Optional<Tensor> floatWeight(String name, int rank) {
            return index.initializer(name).filter(t -> t.getDimsCount() == rank && t.getDataType() == DataType.FLOAT.code())
                    .map(model::tensor);
        }

        /** Marks a constant the rewrite no longer reads; it is removed when no other node does. */
        void replaced(String constant) {
            replaced.add(constant);
        }

        /** Records why {@code node} stays float; returns empty for the rewrite to return. */
        Optional<List<NodeProto>> skip(NodeProto node, String reason) {
            skipped.computeIfAbsent(reason, k -> new ArrayList<>()).add(GraphIndex.describe(node));
            return Optional.empty();
        }

        /** Notes that the model now uses ONNX Runtime's own operators. */
        void usesMsDomain() {
            usesMsDomain = true;
        }

        /** The run-time quantized form of an activation, made once and shared by every node that reads it. */
        String[] runtimeQuantize(String x, List<NodeProto> nodes) {
            String[] existing = runtimeQuantized.get(x);
            if (existing != null) {
                return existing;
            }
            String[] names = {editor().freshName(x + "_quantized"), editor().freshName(x + "_scale"),
                    editor().freshName(x + "_zero_point")};
            nodes.add(OnnxHelper.node("DynamicQuantizeLinear", List.of(x), List.of(names)));
            runtimeQuantized.put(x, names);
            return names;
        }
    }

    static String baseName(NodeProto node) {
        return node.getName().isEmpty() ? node.getOutput(0) : node.getName();
    }
}
