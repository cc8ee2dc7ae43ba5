package io.modelrefinery.plugin.tflite;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.DataType;
import com.google.protobuf.ByteString;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.plugin.convert.ChannelsLastGraph;
import io.modelrefinery.plugin.convert.ChannelsLastGraph.Value;
import io.modelrefinery.plugin.convert.Weight;
import io.modelrefinery.plugin.tflite.TfliteTables.Options;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;
import static io.modelrefinery.plugin.tflite.TfliteConverter.bool;
import static io.modelrefinery.plugin.tflite.TfliteConverter.int8;
import static io.modelrefinery.plugin.tflite.TfliteTables.OptionFields.*;

/**
 * UNIDIRECTIONAL_SEQUENCE_LSTM as ONNX's LSTM. TFLite keeps one weight tensor per gate, in the order
 * input, forget, cell, output ({@code [cells, inputs]} and {@code [cells, outputs]}), a bias per gate and
 * optional peephole vectors; ONNX stacks the gates as input, output, forget, cell. Batch-major sequences
 * (TFLite's default) are transposed to ONNX's time-major layout and back.
 *
 * <p>TFLite keeps the state tensors between invocations; the ONNX model, like any ONNX model, has no
 * state and starts every sequence from the model's initial state, which must be zeros (TFLite's first
 * invocation). What ONNX's LSTM cannot express is refused: projection, layer normalization, coupled
 * input and forget gates, clipping of the cell state, and fully integer-quantized LSTMs.
 */
final class SequenceLstm {
    // Input positions of the operator, from TFLite's lstm_shared.h.
    private static final int INPUT = 0;
    private static final int INPUT_WEIGHTS = 1; // input, forget, cell, output gates: 1..4
    private static final int RECURRENT_WEIGHTS = 5; // 5..8
    private static final int PEEPHOLE = 9; // input, forget, output: 9..11
    private static final int BIAS = 12; // 12..15
    private static final int PROJECTION_WEIGHTS = 16;
    private static final int PROJECTION_BIAS = 17;
    private static final int OUTPUT_STATE = 18;
    private static final int CELL_STATE = 19;
    private static final int LAYER_NORM = 20; // 20..23
    /** TFLite gate i (input, forget, cell, output) goes to ONNX gate position ONNX_POSITION[i] (i, o, f, c). */
    private static final int[] ONNX_POSITION = {0, 2, 3, 1};

    private final TfliteConverter converter;

    SequenceLstm(TfliteConverter converter) {
        this.converter = converter;
    }

    Value convert(int[] in, Options o, String hint) {
        if (in.length != 20 && in.length != 24) {
            throw new InvalidInputException("expects 20 or 24 inputs, has " + in.length);
        }
        ChannelsLastGraph graph = converter.graph();
        Value x = converter.value(in[INPUT]);
        if (x.rank() != 3) {
            throw new InvalidInputException("the input sequence must be 3-D, is " + x);
        }
        refuseUnsupported(in, o);
        String activation = switch (int8(o, SEQUENCE_LSTM_ACTIVATION)) {
            case 1 -> "Relu";
            case 4 -> "Tanh";
            default -> throw new InvalidInputException("fused activation " + int8(o, SEQUENCE_LSTM_ACTIVATION)
                    + " of the cell is not supported (only TANH and RELU)");
        };
        boolean timeMajor = bool(o, SEQUENCE_LSTM_TIME_MAJOR);
        float[][] inputWeights = new float[4][];
        float[][] recurrentWeights = new float[4][];
        float[][] biases = new float[4][];
        Weight first = floats(in[INPUT_WEIGHTS + 1]);
        long cells = first.data().dim(0);
        long inputs = first.data().dim(1);
        if (x.dim(2) >= 0 && x.dim(2) != inputs) {
            throw new InvalidInputException("the weights expect " + inputs + " input features, the sequence has "
                    + x.dim(2));
        }
        for (int g = 0; g < 4; g++) {
            inputWeights[g] = values(in[INPUT_WEIGHTS + g], cells, inputs);
            recurrentWeights[g] = values(in[RECURRENT_WEIGHTS + g], cells, cells);
            biases[g] = values(in[BIAS + g], cells);
        }
        requireZeroState(in[OUTPUT_STATE]);
        requireZeroState(in[CELL_STATE]);

        int h = Math.toIntExact(cells);
        String w = graph.constant(Tensor.ofFloats(new long[] {1, 4 * cells, inputs}, stacked(inputWeights)),
                hint + "_W");
        String r = graph.constant(Tensor.ofFloats(new long[] {1, 4 * cells, cells}, stacked(recurrentWeights)),
                hint + "_R");
        float[] bias = Arrays.copyOf(stacked(biases), 8 * h); // ONNX adds a recurrent bias: zeros
        String b = graph.constant(Tensor.ofFloats(new long[] {1, 8 * cells}, bias), hint + "_B");
        List<String> args = new ArrayList<>(List.of(timeMajor ? graph.frameworkData(x)
                : transposed(x, hint + "_time_major"), w, r, b, "", "", ""));
        if (in[PEEPHOLE] >= 0) { // ONNX's order: input, output, forget
            float[] peephole = new float[3 * h];
            System.arraycopy(values(in[PEEPHOLE], cells), 0, peephole, 0, h);
            System.arraycopy(values(in[PEEPHOLE + 2], cells), 0, peephole, h, h);
            System.arraycopy(values(in[PEEPHOLE + 1], cells), 0, peephole, 2 * h, h);
            args.add(graph.constant(Tensor.ofFloats(new long[] {1, 3 * cells}, peephole), hint + "_P"));
        }
        long steps = timeMajor ? x.dim(0) : x.dim(1);
        long batch = timeMajor ? x.dim(1) : x.dim(0);
        Value y = graph.operator("LSTM", args, DataType.FLOAT, List.of(new long[] {steps, 1, batch, cells}), hint + "_lstm", attr("hidden_size", cells),
                activations("Sigmoid", activation, activation)).get(0);
        String ySqueezed = graph.constant(Tensor.ofLongs(new long[] {1}, 1), hint + "_direction_axis");
        Value sequence = graph.operator("Squeeze", List.of(graph.frameworkData(y), ySqueezed), DataType.FLOAT,
                List.of(new long[] {steps, batch, cells}), timeMajor ? hint : hint + "_time_major_output").get(0);
        if (timeMajor) {
            return sequence;
        }
        return graph.operator("Transpose", List.of(graph.frameworkData(sequence)), DataType.FLOAT,
                List.of(new long[] {batch, steps, cells}), hint, attr("perm", 1L, 0L, 2L)).get(0);
    }

    private void refuseUnsupported(int[] in, Options o) {
        if (in[INPUT_WEIGHTS] < 0 || in[RECURRENT_WEIGHTS] < 0) {
            throw new InvalidInputException("an LSTM without input gate (coupled input and forget gates) is not "
                    + "supported");
        }
        if (in[PROJECTION_WEIGHTS] >= 0 || in[PROJECTION_BIAS] >= 0) {
            throw new InvalidInputException("an LSTM with a projection layer is not supported: ONNX's LSTM has none");
        }
        for (int i = LAYER_NORM; i < in.length; i++) {
            if (in[i] >= 0) {
                throw new InvalidInputException("an LSTM with layer normalization is not supported");
            }
        }
        boolean peephole = in[PEEPHOLE] >= 0;
        if (in[PEEPHOLE + 1] >= 0 != peephole || in[PEEPHOLE + 2] >= 0 != peephole) {
            throw new InvalidInputException("an LSTM with some peephole weights but not all is not supported");
        }
        if (o != null && (o.float32(SEQUENCE_LSTM_CELL_CLIP, 0f) != 0f || o.float32(SEQUENCE_LSTM_PROJ_CLIP, 0f) != 0f)) {
            throw new InvalidInputException("cell_clip and proj_clip are not supported (ONNX's LSTM clips the gates' "
                    + "inputs, not the cell state)");
        }
        if (bool(o, SEQUENCE_LSTM_DIAGONAL_RECURRENT)) {
            throw new InvalidInputException("diagonal recurrent weights are not supported");
        }
        if (converter.quantized(in[INPUT])) {
            throw new InvalidInputException("a fully integer-quantized LSTM is not supported");
        }
    }

    /** A weight as float, dequantized when the model keeps it in int8 (dynamic-range quantization). */
    private Weight floats(int index) {
        Weight w = TfliteConverter.dequantized(converter.constant(index));
        if (w.data().type() != DataType.FLOAT) {
            return Weight.of(Tensor.fromDoubles(DataType.FLOAT, w.data().shape(), w.data().toDoubleArray()));
        }
        return w;
    }

    private float[] values(int index, long... shape) {
        Weight w = floats(index);
        if (!Arrays.equals(w.data().shape(), shape)) {
            throw new InvalidInputException("'" + converter.tensorName(index) + "' has shape "
                    + Arrays.toString(w.data().shape()) + ", the LSTM needs " + Arrays.toString(shape));
        }
        return w.data().toFloatArray();
    }

    /** The four gates' arrays in ONNX's order, one after the other. */
    private static float[] stacked(float[][] gates) {
        int size = gates[0].length;
        float[] out = new float[4 * size];
        for (int g = 0; g < 4; g++) {
            System.arraycopy(gates[g], 0, out, ONNX_POSITION[g] * size, size);
        }
        return out;
    }

    private void requireZeroState(int index) {
        if (index < 0 || !converter.isConstant(index)) {
            return; // a variable without data starts at zero
        }
        for (double v : converter.constant(index).data().toDoubleArray()) {
            if (v != 0) {
                throw new InvalidInputException("state '" + converter.tensorName(index) + "' starts non-zero, "
                        + "which is not supported");
            }
        }
    }

    private static AttributeProto activations(String... names) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName("activations")
                .setType(AttributeProto.AttributeType.STRINGS);
        for (String name : names) {
            a.addStrings(ByteString.copyFromUtf8(name));
        }
        return a.build();
    }

    private String transposed(Value x, String hint) {
        return converter.graph().frameworkData(converter.graph().operator("Transpose",
                List.of(converter.graph().frameworkData(x)), x.type(),
                List.of(new long[] {x.dim(1), x.dim(0), x.dim(2)}), hint, attr("perm", 1L, 0L, 2L)).get(0));
    }
}
