package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The dynamic rewrites of {@link QuantOps}' handlers.
 *
 * <ul>
 *   <li>MatMul and Gemm with a constant weight become DynamicQuantizeLinear + MatMulInteger + Cast + Mul
 *       (+ Add for a bias), which ONNX Runtime fuses into its DynamicQuantizeMatMul kernel. Gemm's weight is
 *       stored transposed as MatMul needs it.</li>
 *   <li>LSTM becomes ONNX Runtime's DynamicQuantizeLSTM: 8-bit input and recurrent weights, stored
 *       transposed ({@code [directions, input, 4 * hidden]}) as that kernel reads them.</li>
 *   <li>Gather from a constant table (embeddings) reads an 8-bit table, and a DequantizeLinear turns only
 *       the gathered rows back to float: standard operators any runtime runs.</li>
 *   <li>Conv keeps float compute with its weights stored 8-bit behind a DequantizeLinear by default
 *       ({@code conv=weight-only}): a quarter of the size, but ONNX Runtime runs that DequantizeLinear on
 *       every inference and cannot prepack the weights, so large convolution networks get slower;
 *       {@code conv=skip} leaves them float, {@code conv=integer} emits ConvInteger as ONNX Runtime's own
 *       tool does (slower still).</li>
 * </ul>
 */
final class DynamicRewrites {
    private DynamicRewrites() {
    }

    static Optional<List<NodeProto>> matMul(DynamicQuantizer.Context c, NodeProto node) {
        if (node.getInputCount() < 2 || !c.isFloat(node.getInput(0))) {
            return Optional.empty();
        }
        Optional<Tensor> weight = c.floatWeight(node.getInput(1), 2);
        if (weight.isEmpty()) {
            return Optional.empty(); // activation times activation (attention scores): no weight to store
        }
        c.replaced(node.getInput(1));
        return Optional.of(integerMatMul(c, node, node.getInput(0), weight.get(), null, node.getOutput(0)));
    }

    /** Gemm with alpha = beta = 1 and no transposed A becomes MatMul on the transposed weight, plus the bias. */
    static Optional<List<NodeProto>> gemm(DynamicQuantizer.Context c, NodeProto node) {
        Optional<Tensor> constant = c.floatWeight(node.getInput(1), 2);
        if (!c.isFloat(node.getInput(0)) || constant.isEmpty()) {
            return Optional.empty();
        }
        if (OnnxHelper.getFloat(node, "alpha", 1f) != 1f || OnnxHelper.getFloat(node, "beta", 1f) != 1f
                || OnnxHelper.getInt(node, "transA", 0) != 0) {
            return c.skip(node, "Gemm with alpha, beta or transA other than 1, 1, 0 has no integer form here");
        }
        Tensor weight = OnnxHelper.getInt(node, "transB", 0) == 1 ? transpose2d(constant.get()) : constant.get();
        c.replaced(node.getInput(1));
        String bias = node.getInputCount() > 2 && !node.getInput(2).isEmpty() ? node.getInput(2) : null;
        return Optional.of(integerMatMul(c, node, node.getInput(0), weight, bias, node.getOutput(0)));
    }

    /**
     * {@code y = (dq(x) * dq(w)) [+ bias]} as DynamicQuantizeLinear, MatMulInteger, Cast and Mul: the integer
     * product times the product of the two scales.
     */
    private static List<NodeProto> integerMatMul(DynamicQuantizer.Context c, NodeProto node, String x, Tensor weight,
                                                 String bias, String output) {
        GraphEditor editor = c.editor();
        List<NodeProto> nodes = new ArrayList<>();
        String[] xq = c.runtimeQuantize(x, nodes);
        String base = DynamicQuantizer.baseName(node);
        DynamicQuantizer.Settings s = c.settings();
        QdqBuilder.Stored w = c.builder().store(base + "_W", WeightQuantizer.quantize(weight, s.weightType(),
                s.perChannel() ? 1 : -1, s.weightType() == QuantType.INT8, s.reduceRange()));
        String integer = editor.freshName(base + "_int32");
        String asFloat = editor.freshName(base + "_int32_float");
        String scale = editor.freshName(base + "_scale");
        nodes.add(OnnxHelper.node("MatMulInteger", List.of(xq[0], w.values(), xq[2], w.zeroPoint()), List.of(integer)));
        nodes.add(OnnxHelper.node("Cast", List.of(integer), List.of(asFloat), OnnxHelper.attr("to", (long) DataType.FLOAT.code())));
        nodes.add(OnnxHelper.node("Mul", List.of(xq[1], w.scale()), List.of(scale)));
        String product = bias == null ? output : editor.freshName(base + "_product");
        nodes.add(OnnxHelper.node("Mul", List.of(asFloat, scale), List.of(product)));
        if (bias != null) {
            nodes.add(OnnxHelper.node("Add", List.of(product, bias), List.of(output)));
        }
        return nodes;
    }

    static Optional<List<NodeProto>> conv(DynamicQuantizer.Context c, NodeProto node) {
        DynamicQuantizer.Settings s = c.settings();
        if (node.getInputCount() < 2 || !c.isFloat(node.getInput(0))) {
            return Optional.empty();
        }
        if (s.conv() == DynamicQuantizer.ConvMode.SKIP) {
            return c.skip(node, "conv=skip");
        }
        Optional<Tensor> constant = c.floatWeight(node.getInput(1), 4);
        if (constant.isEmpty()) {
            return c.skip(node, "only 2-D convolutions with a constant weight are quantized");
        }
        Tensor weight = constant.get();
        c.replaced(node.getInput(1));
        String base = DynamicQuantizer.baseName(node);
        if (s.conv() == DynamicQuantizer.ConvMode.WEIGHT_ONLY) {
            boolean perChannel = s.perChannel() && c.perAxisAllowed();
            String dequantized = c.builder().dequantizedConstant(base + "_W", WeightQuantizer.quantize(weight,
                    s.weightType(), perChannel ? 0 : -1, s.weightType() == QuantType.INT8, s.reduceRange()));
            return Optional.of(List.of(node.toBuilder().setInput(1, dequantized).build()));
        }
        // ConvInteger takes per-tensor zero points only.
        GraphEditor editor = c.editor();
        List<NodeProto> nodes = new ArrayList<>();
        String[] xq = c.runtimeQuantize(node.getInput(0), nodes);
        QdqBuilder.Stored w = c.builder().store(base + "_W", WeightQuantizer.quantize(weight, s.weightType(), -1,
                s.weightType() == QuantType.INT8, s.reduceRange()));
        String integer = editor.freshName(base + "_int32");
        String asFloat = editor.freshName(base + "_int32_float");
        String scale = editor.freshName(base + "_scale");
        NodeProto.Builder convInteger = node.toBuilder().setOpType("ConvInteger").setName(editor.freshName(base + "_ConvInteger"))
                .clearInput().addInput(xq[0]).addInput(w.values()).addInput(xq[2]).addInput(w.zeroPoint())
                .clearOutput().addOutput(integer);
        nodes.add(convInteger.build());
        nodes.add(OnnxHelper.node("Cast", List.of(integer), List.of(asFloat), OnnxHelper.attr("to", (long) DataType.FLOAT.code())));
        nodes.add(OnnxHelper.node("Mul", List.of(xq[1], w.scale()), List.of(scale)));
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
        return Optional.of(nodes);
    }

    /**
     * LSTM with constant input and recurrent weights becomes DynamicQuantizeLSTM: the same inputs and
     * attributes, the weights 8-bit and transposed to {@code [directions, input, 4 * hidden]}, one scale per
     * direction or, per channel, per direction and gate row.
     */
    static Optional<List<NodeProto>> lstm(DynamicQuantizer.Context c, NodeProto node) {
        if (!c.isFloat(node.getInput(0))) {
            return Optional.empty();
        }
        Optional<Tensor> w = c.floatWeight(node.getInput(1), 3);
        Optional<Tensor> r = c.floatWeight(node.getInput(2), 3);
        if (w.isEmpty() || r.isEmpty()) {
            return c.skip(node, "LSTM weights that are not constants cannot be stored 8-bit");
        }
        if (OnnxHelper.getInt(node, "layout", 0) != 0) {
            return c.skip(node, "ONNX Runtime's DynamicQuantizeLSTM takes the sequence-first layout only (layout=0)");
        }
        String base = DynamicQuantizer.baseName(node);
        QdqBuilder.Stored wq = recurrentWeight(c, base + "_W", w.get());
        QdqBuilder.Stored rq = recurrentWeight(c, base + "_R", r.get());
        c.replaced(node.getInput(1));
        c.replaced(node.getInput(2));
        NodeProto.Builder q = node.toBuilder().clearInput().setOpType("DynamicQuantizeLSTM")
                .setDomain(DynamicQuantizer.MS_DOMAIN).setName(node.getName().isEmpty() ? "" : node.getName() + "_quant");
        q.addInput(node.getInput(0)).addInput(wq.values()).addInput(rq.values());
        for (int i = 3; i < 8; i++) {
            q.addInput(i < node.getInputCount() ? node.getInput(i) : "");
        }
        q.addInput(wq.scale()).addInput(wq.zeroPoint()).addInput(rq.scale()).addInput(rq.zeroPoint());
        List<AttributeProto> attributes = node.getAttributeList().stream().filter(a -> !a.getName().equals("layout")).toList();
        q.clearAttribute().addAllAttribute(attributes);
        c.usesMsDomain();
        return Optional.of(List.of(q.build()));
    }

    /** {@code [D, 4H, I]} quantized per direction (or per direction and row) and stored as {@code [D, I, 4H]}. */
    private static QdqBuilder.Stored recurrentWeight(DynamicQuantizer.Context c, String base, Tensor weight) {
        DynamicQuantizer.Settings s = c.settings();
        long directions = weight.dim(0);
        long rows = weight.dim(1);
        long columns = weight.dim(2);
        Tensor grouped = s.perChannel() ? weight.reshape(directions * rows, columns) : weight;
        WeightQuantizer.Quantized q = WeightQuantizer.quantize(grouped, s.weightType(), 0,
                s.weightType() == QuantType.INT8, s.reduceRange());
        double[] values = q.values().toDoubleArray();
        double[] transposed = new double[values.length];
        for (int d = 0; d < directions; d++) {
            long offset = d * rows * columns;
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < columns; j++) {
                    transposed[(int) (offset + j * rows + i)] = values[(int) (offset + i * columns + j)];
                }
            }
        }
        Tensor stored = Tensor.fromDoubles(s.weightType().dataType(), new long[] {directions, columns, rows}, transposed);
        QdqBuilder.Stored names = c.builder().store(base, new WeightQuantizer.Quantized(stored, q.params()));
        if (s.perChannel()) {
            // One scale per direction and gate row: [D, 4H], as the kernel reads them.
            reshapeInitializer(c.editor(), names.scale(), directions, rows);
            reshapeInitializer(c.editor(), names.zeroPoint(), directions, rows);
        }
        return names;
    }

    private static void reshapeInitializer(GraphEditor editor, String name, long... dims) {
        for (int i = 0; i < editor.graph().getInitializerCount(); i++) {
            if (editor.graph().getInitializer(i).getName().equals(name)) {
                editor.graph().setInitializer(i, editor.graph().getInitializer(i).toBuilder().clearDims()
                        .addAllDims(java.util.Arrays.stream(dims).boxed().toList()).build());
                return;
            }
        }
    }

    /**
     * Gather from a constant float table along axis 0 (an embedding) reads the 8-bit table; the gathered rows
     * are dequantized, per tensor or, per channel, one scale per column.
     */
    static Optional<List<NodeProto>> gather(DynamicQuantizer.Context c, NodeProto node) {
        Optional<Tensor> table = c.floatWeight(node.getInput(0), 2);
        if (table.isEmpty()) {
            return Optional.empty(); // gathers from activations or shapes: nothing stored
        }
        if (OnnxHelper.getInt(node, "axis", 0) != 0) {
            return c.skip(node, "only gathers of rows (axis 0) read an 8-bit table");
        }
        DynamicQuantizer.Settings s = c.settings();
        boolean perColumn = s.perChannel() && c.perAxisAllowed();
        String base = DynamicQuantizer.baseName(node);
        QdqBuilder.Stored q = c.builder().store(base + "_table", WeightQuantizer.quantize(table.get(), s.weightType(),
                perColumn ? 1 : -1, s.weightType() == QuantType.INT8, s.reduceRange()));
        c.replaced(node.getInput(0));
        String gathered = c.editor().freshName(base + "_gathered_quantized");
        NodeProto gather = node.toBuilder().setInput(0, q.values()).setOutput(0, gathered).build();
        QdqBuilder.Stored rows = perColumn ? q.alongAxis(-1) : q;
        NodeProto dequantize = QdqBuilder.dequantizeNode(gathered, rows, node.getOutput(0));
        return Optional.of(List.of(gather, dequantize));
    }

    /** Recurrent operators without an integer kernel in ONNX Runtime: said in the report rather than silently kept. */
    static Optional<List<NodeProto>> noIntegerKernel(DynamicQuantizer.Context c, NodeProto node) {
        return c.skip(node, "ONNX Runtime has no integer " + node.getOpType() + " kernel; its weights stay float");
    }

    private static Tensor transpose2d(Tensor t) {
        long rows = t.dim(0);
        long cols = t.dim(1);
        float[] in = t.toFloatArray();
        float[] out = new float[in.length];
        for (int r = 0; r < rows; r++) {
            for (int col = 0; col < cols; col++) {
                out[(int) (col * rows + r)] = in[(int) (r * cols + col)];
            }
        }
        return Tensor.ofFloats(new long[] {cols, rows}, out);
    }
}
