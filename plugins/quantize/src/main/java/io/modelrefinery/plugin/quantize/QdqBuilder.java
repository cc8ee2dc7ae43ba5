package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.List;
import java.util.OptionalInt;

/**
 * Writes quantized values into a graph: stored 8-bit (or int32) constants with their scale and zero point,
 * DequantizeLinear nodes, and QuantizeLinear/DequantizeLinear pairs on activations. The one place where
 * both quantizers build these nodes, so that names, shapes of scales and the per-axis attribute agree.
 */
final class QdqBuilder {
    /**
     * The initializers of a stored constant: the integers, their scale(s) and zero point(s), and the axis the
     * scales run along (empty per tensor).
     */
    record Stored(String values, String scale, String zeroPoint, OptionalInt axis) {
        /** The same parameters read along another axis (a gathered table's columns are the output's last axis). */
        Stored alongAxis(int newAxis) {
            return new Stored(values, scale, zeroPoint, OptionalInt.of(newAxis));
        }
    }

    private final GraphEditor editor;

    QdqBuilder(GraphEditor editor) {
        this.editor = editor;
    }

    GraphEditor editor() {
        return editor;
    }

    /** Stores a quantized weight and its parameters as initializers named after {@code base}. */
    Stored store(String base, WeightQuantizer.Quantized q) {
        QuantParams p = q.params();
        return store(base, q.values(), p.scales(), p.type().dataType(), p.zeroPoints(), p.axis());
    }

    /** Stores an int32 bias (zero points 0) with its scale(s), one per channel along {@code axis} or one. */
    Stored storeBias(String base, WeightQuantizer.QuantizedBias q, int axis) {
        int channels = q.scales().length;
        return store(base, q.values(), q.scales(), DataType.INT32, new int[channels], channels > 1 ? axis : -1);
    }

    private Stored store(String base, Tensor values, float[] scales, DataType zeroPointType, int[] zeroPoints, int axis) {
        String valuesName = editor.freshName(base + "_quantized");
        String scaleName = editor.freshName(base + "_scale");
        String zeroPointName = editor.freshName(base + "_zero_point");
        long[] shape = axis >= 0 ? new long[] {scales.length} : new long[0];
        double[] zps = new double[zeroPoints.length];
        for (int i = 0; i < zps.length; i++) {
            zps[i] = zeroPoints[i];
        }
        editor.putInitializer(values.toProto(valuesName));
        editor.putInitializer(Tensor.ofFloats(shape, axis >= 0 ? scales : new float[] {scales[0]}).toProto(scaleName));
        editor.putInitializer(Tensor.fromDoubles(zeroPointType, shape, axis >= 0 ? zps : new double[] {zps[0]})
                .toProto(zeroPointName));
        return new Stored(valuesName, scaleName, zeroPointName, axis >= 0 ? OptionalInt.of(axis) : OptionalInt.empty());
    }

    /** Adds a DequantizeLinear of {@code stored} and returns its output, named after {@code base}. */
    String dequantize(Stored stored, String base) {
        String output = editor.freshName(base + "_dequantized");
        editor.addNode(dequantizeNode(stored.values(), stored, output));
        return output;
    }

    /** A DequantizeLinear node reading {@code input} with the parameters of {@code stored}. */
    static NodeProto dequantizeNode(String input, Stored stored, String output) {
        List<String> inputs = List.of(input, stored.scale(), stored.zeroPoint());
        return stored.axis().isPresent()
                ? OnnxHelper.node("DequantizeLinear", inputs, List.of(output), OnnxHelper.attr("axis", (long) stored.axis().getAsInt()))
                : OnnxHelper.node("DequantizeLinear", inputs, List.of(output));
    }

    /** Stores {@code q} and dequantizes it: what a float operator reads in place of the original constant. */
    String dequantizedConstant(String base, WeightQuantizer.Quantized q) {
        return dequantize(store(base, q), base);
    }

    /**
     * Quantizes activation {@code tensor} and dequantizes it into {@code dequantized}, with per-tensor
     * parameters {@code p}. When {@code dequantized} is the tensor itself (a graph output keeps its name), the
     * producer's output is renamed first.
     *
     * @return the names of the QuantizeLinear output (the 8-bit tensor) and its scale and zero point
     */
    Stored quantizeDequantize(String tensor, QuantParams p, String dequantized) {
        Stored stored = quantize(tensor, p, dequantized.equals(tensor));
        editor.addNode(dequantizeNode(stored.values(), stored, dequantized));
        return stored;
    }

    /**
     * Quantizes activation {@code tensor} with per-tensor parameters {@code p}, renaming its producer's output
     * first when {@code renameProducer} (the name is to be the DequantizeLinear's).
     */
    Stored quantize(String tensor, QuantParams p, boolean renameProducer) {
        String scale = editor.freshName(tensor + "_scale");
        String zeroPoint = editor.freshName(tensor + "_zero_point");
        editor.putInitializer(Tensor.ofFloats(new long[0], p.scale()).toProto(scale));
        editor.putInitializer(Tensor.fromDoubles(p.type().dataType(), new long[0], new double[] {p.zeroPoint()})
                .toProto(zeroPoint));
        String source = tensor;
        if (renameProducer) {
            source = editor.freshName(tensor + "_float");
            renameProducer(tensor, source);
        }
        String quantized = editor.freshName(tensor + "_quantized");
        editor.addNode(OnnxHelper.node("QuantizeLinear", List.of(source, scale, zeroPoint), List.of(quantized)));
        return new Stored(quantized, scale, zeroPoint, OptionalInt.empty());
    }

    /**
     * Dequantizes the 8-bit tensor of {@code quantized} into {@code dequantized} with another per-tensor scale
     * and the same zero point: the value times {@code scale / quantized's scale}, with no operator run.
     *
     * @return the same integers with the new scale
     */
    Stored dequantizeRescaled(Stored quantized, float scale, String dequantized) {
        String scaleName = editor.freshName(dequantized + "_scale");
        editor.putInitializer(Tensor.scalar(scale).toProto(scaleName));
        Stored rescaled = new Stored(quantized.values(), scaleName, quantized.zeroPoint(), OptionalInt.empty());
        editor.addNode(dequantizeNode(quantized.values(), rescaled, dequantized));
        return rescaled;
    }

    private void renameProducer(String from, String to) {
        for (NodeProto node : editor.nodes()) {
            int at = node.getOutputList().indexOf(from);
            if (at >= 0) {
                editor.replaceNode(node, node.toBuilder().setOutput(at, to).build());
                return;
            }
        }
        throw new InvalidInputException("graph output '" + from + "' has no producing node to quantize");
    }
}
