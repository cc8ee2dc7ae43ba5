package io.modelrefinery.plugin.tflite;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.plugin.convert.ChannelsLastGraph;
import io.modelrefinery.plugin.convert.ChannelsLastGraph.Value;
import io.modelrefinery.plugin.convert.Weight;

import java.util.List;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;

/**
 * int16 activations (TFLite's 16x8 mode: int16 activations, symmetric, with int8 weights). ONNX's
 * QuantizeLinear and DequantizeLinear take int16 only from opset 21, so the graph does their arithmetic
 * itself: {@code q = clamp(round(x / scale) + zeroPoint, -32768, 32767)} with Round's half-to-even, as
 * QuantizeLinear rounds, and {@code x = (q - zeroPoint) * scale}.
 */
final class Int16Quantization {
    private static final float MIN = Short.MIN_VALUE;
    private static final float MAX = Short.MAX_VALUE;

    private Int16Quantization() {
    }

    /** A float value rounded to the int16 grid and back, as the quantized tensor holds it. */
    static Value fakeQuantize(ChannelsLastGraph graph, Value x, Weight.Quantization q, String hint) {
        float zero = zeroPoint(q, hint);
        return graph.binary("Mul", offset(graph, grid(graph, x, q, hint), -zero, hint + "_centered"),
                Weight.of(Tensor.scalar(scale(q))), false, hint);
    }

    /** A float value as an int16 graph output. */
    static Value quantize(ChannelsLastGraph graph, Value x, Weight.Quantization q, String hint) {
        Value onGrid = grid(graph, x, q, hint);
        return graph.operator("Cast", List.of(graph.frameworkData(onGrid)), DataType.INT16, List.of(x.shape()),
                hint, attr("to", (long) DataType.INT16.code())).get(0);
    }

    /** An int16 graph input as floats. */
    static Value dequantize(ChannelsLastGraph graph, Value input, Weight.Quantization q, String hint) {
        Value asFloat = graph.operator("Cast", List.of(graph.frameworkData(input)), DataType.FLOAT,
                List.of(input.shape()), hint + "_float", attr("to", (long) DataType.FLOAT.code())).get(0);
        Value centered = offset(graph, asFloat, -zeroPoint(q, hint), hint + "_centered");
        return graph.binary("Mul", centered, Weight.of(Tensor.scalar(scale(q))), false, hint + "_dequantized");
    }

    /** {@code clamp(round(x / scale) + zeroPoint)}, still as floats. */
    private static Value grid(ChannelsLastGraph graph, Value x, Weight.Quantization q, String hint) {
        Value scaled = graph.binary("Div", x, Weight.of(Tensor.scalar(scale(q))), false, hint + "_scaled");
        Value rounded = offset(graph, graph.unary("Round", scaled, hint + "_rounded"), zeroPoint(q, hint),
                hint + "_shifted");
        return graph.clip(rounded, MIN, MAX, hint + "_clamped");
    }

    private static Value offset(ChannelsLastGraph graph, Value x, float offset, String hint) {
        return offset == 0 ? x : graph.binary("Add", x, Weight.of(Tensor.scalar(offset)), false, hint);
    }

    private static float scale(Weight.Quantization q) {
        return (float) q.scale().toDoubleArray()[0];
    }

    private static float zeroPoint(Weight.Quantization q, String hint) {
        if (q.perAxis()) {
            throw new InvalidInputException("int16 tensor '" + hint + "' is quantized per axis; only activations "
                    + "with one scale are supported");
        }
        return (float) q.zeroPoint().toDoubleArray()[0];
    }
}
