package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Dynamic quantization: weights stored 8-bit, activations quantized at run time.
 *
 * <ul>
 *   <li>MatMul and Gemm with a constant weight become DynamicQuantizeLinear + MatMulInteger + Cast + Mul
 *       (+ Add for a bias), which ONNX Runtime fuses into its DynamicQuantizeMatMul kernel. Gemm's
 *       weight is stored transposed as MatMul needs it.</li>
 *   <li>Conv, by default, keeps float compute with its weight stored 8-bit behind a DequantizeLinear,
 *       which ONNX Runtime folds once at load: ConvInteger has no fast CPU kernel and makes convolution
 *       networks several times slower than float. {@code conv=integer} emits ConvInteger as ONNX
 *       Runtime's own tool does.</li>
 * </ul>
 */
final class DynamicQuantizer {
    /** How convolutions are quantized. */
    enum ConvMode {
        /** 8-bit weights, float compute: small and as fast as float. */
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
     * @param perChannel one scale per output column (MatMul/Gemm) or channel (weight-only Conv)
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

    OnnxModel apply() {
        GraphEditor editor = GraphEditor.of(model.graph());
        Map<String, String[]> runtimeQuantized = new HashMap<>(); // activation -> {q, scale, zero point}
        Set<String> replaced = new HashSet<>();
        for (NodeProto node : index.topologicalOrder()) {
            if (!settings.includeOps().contains(node.getOpType()) || settings.excludeNodes().contains(node.getName())
                    || !node.getDomain().isEmpty() || !isFloat(node.getInput(0))) {
                continue;
            }
            List<NodeProto> replacement = switch (node.getOpType()) {
                case "MatMul" -> matMul(editor, node, runtimeQuantized, replaced);
                case "Gemm" -> gemm(editor, node, runtimeQuantized, replaced);
                case "Conv" -> conv(editor, node, runtimeQuantized, replaced);
                default -> List.of();
            };
            if (!replacement.isEmpty()) {
                editor.replaceNode(node, replacement);
                quantizedNodes.add(GraphIndex.describe(node));
            }
        }
        for (String constant : replaced) {
            if (editor.nodes().stream().noneMatch(n -> n.getInputList().contains(constant))) {
                editor.removeInitializer(constant);
            }
        }
        return model.withGraph(editor.build());
    }

    private boolean isFloat(String tensor) {
        TensorInfo info = types.get(tensor);
        return info != null && info.type() == DataType.FLOAT;
    }

    private boolean isWeight(String tensor, int rank) {
        return index.initializer(tensor).map(t -> t.getDimsCount() == rank && t.getDataType() == DataType.FLOAT.code())
                .orElse(false);
    }

    private List<NodeProto> matMul(GraphEditor editor, NodeProto node, Map<String, String[]> runtime, Set<String> replaced) {
        if (node.getInputCount() < 2 || !isWeight(node.getInput(1), 2)) {
            return List.of();
        }
        Tensor weight = model.tensor(index.initializer(node.getInput(1)).orElseThrow());
        replaced.add(node.getInput(1));
        return integerMatMul(editor, node, node.getInput(0), weight, null, node.getOutput(0), runtime);
    }

    /** Gemm with alpha = beta = 1 and no transposed A becomes MatMul on the transposed weight, plus the bias. */
    private List<NodeProto> gemm(GraphEditor editor, NodeProto node, Map<String, String[]> runtime, Set<String> replaced) {
        if (OnnxHelper.getFloat(node, "alpha", 1f) != 1f || OnnxHelper.getFloat(node, "beta", 1f) != 1f
                || OnnxHelper.getInt(node, "transA", 0) != 0 || !isWeight(node.getInput(1), 2)) {
            return List.of();
        }
        Tensor weight = model.tensor(index.initializer(node.getInput(1)).orElseThrow());
        if (OnnxHelper.getInt(node, "transB", 0) == 1) {
            weight = transpose2d(weight);
        }
        replaced.add(node.getInput(1));
        String bias = node.getInputCount() > 2 && !node.getInput(2).isEmpty() ? node.getInput(2) : null;
        return integerMatMul(editor, node, node.getInput(0), weight, bias, node.getOutput(0), runtime);
    }

    /**
     * {@code y = (dq(x) * dq(w)) [+ bias]} as DynamicQuantizeLinear, MatMulInteger, Cast and Mul: the
     * integer product times the product of the two scales.
     */
    private List<NodeProto> integerMatMul(GraphEditor editor, NodeProto node, String x, Tensor weight, String bias,
                                          String output, Map<String, String[]> runtime) {
        List<NodeProto> nodes = new ArrayList<>();
        String[] xq = runtimeQuantize(editor, x, runtime, nodes);
        String base = baseName(node);
        WeightQuantizer.Quantized w = WeightQuantizer.quantize(weight, settings.weightType(),
                settings.perChannel() ? 1 : -1, settings.weightType() == QuantType.INT8, settings.reduceRange());
        String[] wq = storeWeight(editor, base + "_W", w);
        String integer = editor.freshName(base + "_int32");
        String asFloat = editor.freshName(base + "_int32_float");
        String scale = editor.freshName(base + "_scale");
        nodes.add(OnnxHelper.node("MatMulInteger", List.of(xq[0], wq[0], xq[2], wq[2]), List.of(integer)));
        nodes.add(OnnxHelper.node("Cast", List.of(integer), List.of(asFloat), OnnxHelper.attr("to", (long) DataType.FLOAT.code())));
        nodes.add(OnnxHelper.node("Mul", List.of(xq[1], wq[1]), List.of(scale)));
        String product = bias == null ? output : editor.freshName(base + "_product");
        nodes.add(OnnxHelper.node("Mul", List.of(asFloat, scale), List.of(product)));
        if (bias != null) {
            nodes.add(OnnxHelper.node("Add", List.of(product, bias), List.of(output)));
        }
        return nodes;
    }

    private List<NodeProto> conv(GraphEditor editor, NodeProto node, Map<String, String[]> runtime, Set<String> replaced) {
        if (settings.conv() == ConvMode.SKIP || node.getInputCount() < 2 || !isWeight(node.getInput(1), 4)) {
            return List.of();
        }
        Tensor weight = model.tensor(index.initializer(node.getInput(1)).orElseThrow());
        replaced.add(node.getInput(1));
        String base = baseName(node);
        if (settings.conv() == ConvMode.WEIGHT_ONLY) {
            WeightQuantizer.Quantized w = WeightQuantizer.quantize(weight, settings.weightType(),
                    settings.perChannel() ? 0 : -1, settings.weightType() == QuantType.INT8, settings.reduceRange());
            String[] wq = storeWeight(editor, base + "_W", w);
            String dequantized = editor.freshName(base + "_W_dequantized");
            NodeProto dq = w.params().perChannel()
                    ? OnnxHelper.node("DequantizeLinear", List.of(wq[0], wq[1], wq[2]), List.of(dequantized),
                            OnnxHelper.attr("axis", 0L))
                    : OnnxHelper.node("DequantizeLinear", List.of(wq[0], wq[1], wq[2]), List.of(dequantized));
            return List.of(dq, node.toBuilder().setInput(1, dequantized).build());
        }
        // ConvInteger takes per-tensor zero points only.
        List<NodeProto> nodes = new ArrayList<>();
        String[] xq = runtimeQuantize(editor, node.getInput(0), runtime, nodes);
        WeightQuantizer.Quantized w = WeightQuantizer.quantize(weight, settings.weightType(), -1,
                settings.weightType() == QuantType.INT8, settings.reduceRange());
        String[] wq = storeWeight(editor, base + "_W", w);
        String integer = editor.freshName(base + "_int32");
        String asFloat = editor.freshName(base + "_int32_float");
        String scale = editor.freshName(base + "_scale");
        NodeProto.Builder convInteger = node.toBuilder().setOpType("ConvInteger").setName(editor.freshName(base + "_ConvInteger"))
                .clearInput().addInput(xq[0]).addInput(wq[0]).addInput(xq[2]).addInput(wq[2]).clearOutput().addOutput(integer);
        nodes.add(convInteger.build());
        nodes.add(OnnxHelper.node("Cast", List.of(integer), List.of(asFloat), OnnxHelper.attr("to", (long) DataType.FLOAT.code())));
        nodes.add(OnnxHelper.node("Mul", List.of(xq[1], wq[1]), List.of(scale)));
        boolean hasBias = node.getInputCount() > 2 && !node.getInput(2).isEmpty();
        String product = hasBias ? editor.freshName(base + "_product") : node.getOutput(0);
        nodes.add(OnnxHelper.node("Mul", List.of(asFloat, scale), List.of(product)));
        if (hasBias) {
            String shape = editor.freshName(base + "_bias_shape");
            String reshaped = editor.freshName(base + "_bias_reshaped");
            editor.putInitializer(Tensor.ofLongs(new long[] {4}, 1, -1, 1, 1).toProto(shape));
            nodes.add(OnnxHelper.node("Reshape", List.of(node.getInput(2), shape), List.of(reshaped)));
            nodes.add(OnnxHelper.node("Add", List.of(product, reshaped), List.of(node.getOutput(0))));
        }
        return nodes;
    }

    /** The run-time quantized form of an activation, made once and shared by every node that reads it. */
    private static String[] runtimeQuantize(GraphEditor editor, String x, Map<String, String[]> runtime,
                                            List<NodeProto> nodes) {
        String[] existing = runtime.get(x);
        if (existing != null) {
            return existing;
        }
        String[] names = {editor.freshName(x + "_quantized"), editor.freshName(x + "_scale"),
                editor.freshName(x + "_zero_point")};
        nodes.add(OnnxHelper.node("DynamicQuantizeLinear", List.of(x), List.of(names)));
        runtime.put(x, names);
        return names;
    }

    /** Stores an 8-bit weight with its scale and zero point; returns their names. */
    private static String[] storeWeight(GraphEditor editor, String base, WeightQuantizer.Quantized w) {
        QuantParams p = w.params();
        String[] names = {editor.freshName(base + "_quantized"), editor.freshName(base + "_scale"),
                editor.freshName(base + "_zero_point")};
        long[] shape = p.perChannel() ? new long[] {p.scales().length} : new long[0];
        double[] zps = new double[p.zeroPoints().length];
        for (int i = 0; i < zps.length; i++) {
            zps[i] = p.zeroPoints()[i];
        }
        editor.putInitializer(w.values().toProto(names[0]));
        editor.putInitializer(Tensor.ofFloats(shape, p.scales()).toProto(names[1]));
        editor.putInitializer(Tensor.fromDoubles(p.type().dataType(), shape, zps).toProto(names[2]));
        return names;
    }

    private static String baseName(NodeProto node) {
        return node.getName().isEmpty() ? node.getOutput(0) : node.getName();
    }

    private static Tensor transpose2d(Tensor t) {
        long rows = t.dim(0);
        long cols = t.dim(1);
        float[] in = t.toFloatArray();
        float[] out = new float[in.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                out[(int) (c * rows + r)] = in[(int) (r * cols + c)];
            }
        }
        return Tensor.ofFloats(new long[] {cols, rows}, out);
    }
}
