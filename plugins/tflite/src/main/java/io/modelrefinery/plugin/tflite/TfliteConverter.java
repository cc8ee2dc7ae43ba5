package io.modelrefinery.plugin.tflite;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.plugin.convert.ChannelsLastGraph;
import io.modelrefinery.plugin.convert.ChannelsLastGraph.Padding;
import io.modelrefinery.plugin.convert.ChannelsLastGraph.Value;
import io.modelrefinery.plugin.convert.TensorLayouts;
import io.modelrefinery.plugin.convert.Weight;
import io.modelrefinery.plugin.tflite.TfliteTables.Buffer;
import io.modelrefinery.plugin.tflite.TfliteTables.Model;
import io.modelrefinery.plugin.tflite.TfliteTables.Operator;
import io.modelrefinery.plugin.tflite.TfliteTables.Options;
import io.modelrefinery.plugin.tflite.TfliteTables.QuantizationParameters;
import io.modelrefinery.plugin.tflite.TfliteTables.SubGraph;
import io.modelrefinery.plugin.tflite.TfliteTables.TensorTable;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;
import static io.modelrefinery.plugin.tflite.TfliteTables.OptionFields.*;

/**
 * Converts the main subgraph of a TensorFlow Lite model, operator by operator, into an ONNX graph whose
 * inputs and outputs keep TFLite's shapes and types. Quantized tensors keep their numbers: a quantized
 * activation becomes a QuantizeLinear/DequantizeLinear pair after the float operator that computes it
 * (int16 activations, which ONNX's opset 17 cannot quantize, the same rounding in float arithmetic:
 * {@link Int16Quantization}), a quantized weight an int8 or uint8 initializer behind a DequantizeLinear,
 * per-axis scales included. The operators themselves live here (arithmetic, convolutions, activations),
 * in {@link ShapeOperators}, {@link ImageOperators} and {@link SequenceLstm}.
 */
final class TfliteConverter {
    private final Model model;
    private final SubGraph subgraph;
    private final Cancellation cancellation;
    private final ChannelsLastGraph graph = new ChannelsLastGraph();
    /** Activations by tensor index, as float values. */
    private final Map<Integer, Value> values = new HashMap<>();
    /** Constants computed from constants (a DEQUANTIZE of float16 weights). */
    private final Map<Integer, Weight> derivedConstants = new HashMap<>();
    private final ShapeOperators shapes = new ShapeOperators(this);
    private final ImageOperators images = new ImageOperators(this);
    private final SequenceLstm lstm = new SequenceLstm(this);
    /**
     * Whether activations are int16 (16x8 mode). Its int8 weights then become float initializers: behind
     * a DequantizeLinear, ONNX Runtime fuses them with a float MatMul or Gemm into an 8-bit kernel that
     * quantizes the (int16-precise) activations to 8 bits, which is three orders of magnitude coarser.
     */
    private final boolean int16Activations;
    private int operatorIndex;

    private TfliteConverter(Model model, Cancellation cancellation) {
        this.model = model;
        this.subgraph = model.subgraph(0);
        this.cancellation = cancellation;
        this.int16Activations = hasInt16Activations();
    }

    private boolean hasInt16Activations() {
        for (int i = 0; i < subgraph.tensorCount(); i++) {
            if (subgraph.tensor(i).type() == TFLITE_INT16 && !isConstant(i) && quantization(i) != null) {
                return true;
            }
        }
        return false;
    }

    /** The converted model and what the conversion did. */
    record Result(OnnxModel model, int operators, int quantizedTensors, int layoutChanges) {
    }

    static Result convert(ByteBuffer file, Cancellation cancellation) {
        Model model = Model.root(file);
        if (model.subgraphCount() == 0) {
            throw new InvalidInputException("the TFLite model has no subgraph");
        }
        return new TfliteConverter(model, cancellation).run();
    }

    private Result run() {
        int[] outputs = subgraph.outputs();
        if (outputs.length == 0) {
            throw new InvalidInputException("the TFLite model's main subgraph has no outputs");
        }
        for (int output : outputs) {
            graph.reserve(tensorName(output));
        }
        for (int input : subgraph.inputs()) {
            values.put(input, graphInput(input));
        }
        int count = subgraph.operatorCount();
        for (operatorIndex = 0; operatorIndex < count; operatorIndex++) {
            cancellation.throwIfCancelled();
            Operator op = subgraph.operator(operatorIndex);
            int code = builtinCode(op);
            String place = "operator " + (operatorIndex + 1) + " of " + count + " (" + BuiltinOperators.name(code)
                    + outputNote(op) + "): ";
            try {
                convert(code, op);
            } catch (InvalidInputException e) {
                throw new InvalidInputException(place + e.getMessage(), e);
            } catch (ArrayIndexOutOfBoundsException e) { // an operator given fewer inputs than it reads
                throw new InvalidInputException(place + "has " + op.inputs().length + " inputs, fewer than it needs",
                        e);
            } catch (ArithmeticException e) { // a size or index beyond int range
                throw new InvalidInputException(place + "a size or index is out of range", e);
            }
        }
        int quantized = 0;
        for (int i = 0; i < subgraph.tensorCount(); i++) {
            quantized += quantization(i) != null && !isConstant(i) ? 1 : 0;
        }
        for (int output : outputs) {
            graph.output(graphOutput(output), tensorName(output));
        }
        return new Result(graph.build("main", "model-refinery tflite-to-onnx"), count, quantized, graph.layoutChanges());
    }

    private String outputNote(Operator op) {
        int[] outs = op.outputs();
        return outs.length == 0 ? "" : ", output '" + tensorName(outs[0]) + "'";
    }

    private int builtinCode(Operator op) {
        long index = op.opcodeIndex();
        if (index >= model.operatorCodeCount()) {
            throw new InvalidInputException("operator " + (operatorIndex + 1) + " names operator code " + index
                    + ", the model has " + model.operatorCodeCount());
        }
        return model.operatorCode((int) index).builtinCode();
    }

    // ---------------------------------------------------------------- operators

    private void convert(int code, Operator op) {
        int[] in = op.inputs();
        int[] out = op.outputs();
        if (out.length == 0) {
            throw new InvalidInputException("the operator has no output");
        }
        Options o = op.options(new Options());
        List<Value> ys = out.length == 1 ? single(code, op, in, out[0], o) : switch (code) {
            case BuiltinOperators.SPLIT -> shapes.split(in, out);
            case BuiltinOperators.SPLIT_V -> shapes.splitV(in, out);
            case BuiltinOperators.UNPACK -> shapes.unpack(in, out, o);
            default -> throw new InvalidInputException(BuiltinOperators.name(code) + " with " + out.length
                    + " outputs is not supported");
        };
        for (int i = 0; i < ys.size(); i++) {
            Value y = ys.get(i);
            if (y == null) {
                continue; // a constant folded at conversion time
            }
            checkShape(y, out[i]);
            checkType(y, out[i]);
            values.put(out[i], quantizeActivation(y, out[i], tensorName(out[i])));
        }
    }

    /** An operator with one output; a list holding null when it folds into a constant. */
    private List<Value> single(int code, Operator op, int[] in, int output, Options o) {
        String name = tensorName(output);
        if (!ANY_TYPE.contains(code)) {
            requireFloatInputs(in);
        }
        String unary = UNARY.get(code);
        if (unary != null) {
            return List.of(graph.unary(unary, value(in[0]), name));
        }
        String binary = BINARY.get(code);
        if (binary != null) {
            Value y = arithmetic(binary, in, name);
            return List.of(FUSED_BINARY.contains(code) ? fused(y, int8(o, ARITHMETIC_ACTIVATION), name) : y);
        }
        String compare = COMPARE.get(code);
        if (compare != null) {
            return List.of(shapes.compare(compare, code == BuiltinOperators.NOT_EQUAL, value(in[0]), value(in[1]), name));
        }
        String reduce = REDUCE.get(code);
        if (reduce != null) {
            return List.of(shapes.reduce(reduce, value(in[0]), intConstant(in[1]), bool(o, REDUCER_KEEP_DIMS), name));
        }
        Value y = switch (code) {
            case BuiltinOperators.CONV_2D -> conv(in, o, name);
            case BuiltinOperators.DEPTHWISE_CONV_2D -> depthwiseConv(in, o, name);
            case BuiltinOperators.FULLY_CONNECTED -> fullyConnected(in, o, name, output);
            case BuiltinOperators.MAX_POOL_2D, BuiltinOperators.AVERAGE_POOL_2D -> fused(graph.pool(
                    code == BuiltinOperators.MAX_POOL_2D ? "MaxPool" : "AveragePool", value(in[0]),
                    new int[] {int32(o, POOL_FILTER_H, 0), int32(o, POOL_FILTER_W, 0)},
                    new int[] {int32(o, POOL_STRIDE_H, 1), int32(o, POOL_STRIDE_W, 1)}, padding(o, POOL_PADDING), name),
                    int8(o, POOL_ACTIVATION), name);
            case BuiltinOperators.MEAN -> graph.mean(value(in[0]), intConstant(in[1]), bool(o, REDUCER_KEEP_DIMS), name);
            case BuiltinOperators.RESHAPE -> reshape(in, o, output, name);
            case BuiltinOperators.SOFTMAX -> softmax(in, o, name);
            case BuiltinOperators.LOG_SOFTMAX -> shapes.logSoftmax(value(in[0]), name);
            case BuiltinOperators.RELU6 -> graph.clip(value(in[0]), 0f, 6f, name);
            case BuiltinOperators.RELU_N1_TO_1 -> graph.clip(value(in[0]), -1f, 1f, name);
            case BuiltinOperators.LEAKY_RELU -> graph.unary("LeakyRelu", value(in[0]), name,
                    attr("alpha", o == null ? 0f : o.float32(LEAKY_RELU_ALPHA, 0f)));
            case BuiltinOperators.LOGICAL_NOT -> shapes.logicalNot(value(in[0]), name);
            case BuiltinOperators.SELECT, BuiltinOperators.SELECT_V2 -> shapes.select(code == BuiltinOperators.SELECT,
                    value(in[0]), value(in[1]), value(in[2]), name);
            case BuiltinOperators.RSQRT -> graph.unary("Reciprocal", graph.unary("Sqrt", value(in[0]), name + "_sqrt"),
                    name);
            case BuiltinOperators.SQUARE -> graph.binary("Mul", value(in[0]), value(in[0]), name);
            case BuiltinOperators.SQUARED_DIFFERENCE -> {
                Value difference = arithmetic("Sub", in, name + "_difference");
                yield graph.binary("Mul", difference, difference, name);
            }
            case BuiltinOperators.PRELU -> prelu(in, name);
            case BuiltinOperators.GELU -> gelu(value(in[0]), bool(o, GELU_APPROXIMATE), name);
            case BuiltinOperators.L2_NORMALIZATION -> l2Normalize(value(in[0]), name);
            case BuiltinOperators.CONCATENATION -> fused(graph.concat(sameType(in), int32(o, CONCATENATION_AXIS, 0),
                    name), int8(o, CONCATENATION_ACTIVATION), name);
            case BuiltinOperators.PAD, BuiltinOperators.PADV2 -> pad(in, name);
            case BuiltinOperators.MIRROR_PAD -> shapes.mirrorPad(value(in[0]), intConstant(in[1]),
                    int8(o, MIRROR_PAD_MODE) == 1, name);
            case BuiltinOperators.TRANSPOSE -> shapes.transpose(value(in[0]), intConstant(in[1]), name);
            case BuiltinOperators.SLICE -> shapes.slice(value(in[0]), intConstant(in[1]), intConstant(in[2]), name);
            case BuiltinOperators.STRIDED_SLICE -> shapes.stridedSlice(in, o, name);
            case BuiltinOperators.GATHER -> shapes.gather(in, o, name);
            case BuiltinOperators.EXPAND_DIMS -> shapes.expandDims(value(in[0]), intConstant(in[1]), name);
            case BuiltinOperators.SQUEEZE -> shapes.squeeze(value(in[0]), o == null ? new int[0] : o.ints(SQUEEZE_DIMS),
                    name);
            case BuiltinOperators.PACK -> shapes.pack(sameType(in), int32(o, PACK_AXIS, 0), name);
            case BuiltinOperators.UNPACK -> shapes.unpack(in, new int[] {output}, o).get(0);
            case BuiltinOperators.SPLIT -> shapes.split(in, new int[] {output}).get(0);
            case BuiltinOperators.SPLIT_V -> shapes.splitV(in, new int[] {output}).get(0);
            case BuiltinOperators.TILE -> shapes.tile(value(in[0]), intConstant(in[1]), name);
            case BuiltinOperators.SHAPE -> shapes.shape(value(in[0]), dataType(output), name);
            case BuiltinOperators.CAST -> shapes.cast(value(in[0]), dataType(output), name);
            case BuiltinOperators.ARG_MAX, BuiltinOperators.ARG_MIN -> shapes.argExtreme(
                    code == BuiltinOperators.ARG_MAX ? "ArgMax" : "ArgMin", value(in[0]), intConstant(in[1]),
                    dataType(output), name);
            case BuiltinOperators.BATCH_MATMUL -> shapes.batchMatMul(in, bool(o, BATCH_MATMUL_ADJ_X),
                    bool(o, BATCH_MATMUL_ADJ_Y), name);
            case BuiltinOperators.RESIZE_BILINEAR -> images.resize(value(in[0]), intConstant(in[1]), false,
                    bool(o, RESIZE_BILINEAR_ALIGN_CORNERS), bool(o, RESIZE_BILINEAR_HALF_PIXEL_CENTERS), name);
            case BuiltinOperators.RESIZE_NEAREST_NEIGHBOR -> images.resize(value(in[0]), intConstant(in[1]), true,
                    bool(o, RESIZE_NEAREST_ALIGN_CORNERS), bool(o, RESIZE_NEAREST_HALF_PIXEL_CENTERS), name);
            case BuiltinOperators.TRANSPOSE_CONV -> fused(images.transposeConv(in, o, name),
                    int8(o, TRANSPOSE_CONV_ACTIVATION), name);
            case BuiltinOperators.SPACE_TO_DEPTH, BuiltinOperators.DEPTH_TO_SPACE -> images.blocks(
                    code == BuiltinOperators.SPACE_TO_DEPTH, value(in[0]), int32(o, BLOCK_SIZE, 0), name);
            case BuiltinOperators.SPACE_TO_BATCH_ND -> images.spaceToBatch(value(in[0]), intConstant(in[1]),
                    intConstant(in[2]), name);
            case BuiltinOperators.BATCH_TO_SPACE_ND -> images.batchToSpace(value(in[0]), intConstant(in[1]),
                    intConstant(in[2]), name);
            case BuiltinOperators.UNIDIRECTIONAL_SEQUENCE_LSTM -> lstm.convert(in, o, name);
            case BuiltinOperators.QUANTIZE -> value(in[0]); // the quantization follows, from the output tensor
            case BuiltinOperators.DEQUANTIZE -> dequantize(in[0], output);
            case BuiltinOperators.CUSTOM -> throw new InvalidInputException("custom operator '"
                    + model.operatorCode((int) op.opcodeIndex()).customCode() + "' is not supported");
            default -> throw new InvalidInputException("unsupported operator " + BuiltinOperators.name(code));
        };
        return Collections.singletonList(y);
    }

    /** Operators that move or combine values of any type; all others compute on floats. */
    private static final Set<Integer> ANY_TYPE = Set.of(BuiltinOperators.RESHAPE, BuiltinOperators.TRANSPOSE,
            BuiltinOperators.SLICE, BuiltinOperators.STRIDED_SLICE, BuiltinOperators.GATHER,
            BuiltinOperators.EXPAND_DIMS, BuiltinOperators.SQUEEZE, BuiltinOperators.PACK, BuiltinOperators.UNPACK,
            BuiltinOperators.SPLIT, BuiltinOperators.SPLIT_V, BuiltinOperators.TILE, BuiltinOperators.SHAPE,
            BuiltinOperators.CAST, BuiltinOperators.CONCATENATION, BuiltinOperators.PAD, BuiltinOperators.PADV2,
            BuiltinOperators.ADD, BuiltinOperators.SUB, BuiltinOperators.MUL, BuiltinOperators.DIV,
            BuiltinOperators.MAXIMUM, BuiltinOperators.MINIMUM, BuiltinOperators.ARG_MAX, BuiltinOperators.ARG_MIN,
            BuiltinOperators.SUM, BuiltinOperators.REDUCE_MAX, BuiltinOperators.REDUCE_MIN,
            BuiltinOperators.REDUCE_PROD, BuiltinOperators.NEG, BuiltinOperators.ABS, BuiltinOperators.DEQUANTIZE,
            BuiltinOperators.CUSTOM, BuiltinOperators.LESS, BuiltinOperators.LESS_EQUAL, BuiltinOperators.GREATER,
            BuiltinOperators.GREATER_EQUAL, BuiltinOperators.EQUAL, BuiltinOperators.NOT_EQUAL,
            BuiltinOperators.LOGICAL_AND, BuiltinOperators.LOGICAL_OR, BuiltinOperators.LOGICAL_NOT,
            BuiltinOperators.SELECT, BuiltinOperators.SELECT_V2, BuiltinOperators.SPACE_TO_BATCH_ND,
            BuiltinOperators.BATCH_TO_SPACE_ND);

    /** The activations an operator reads (constants aside) hold floats, as a float operator needs. */
    private void requireFloatInputs(int[] in) {
        for (int index : in) {
            Value v = index >= 0 ? values.get(index) : null;
            if (v != null && v.type() != DataType.FLOAT) {
                throw new InvalidInputException("input '" + tensorName(index) + "' holds " + v.type()
                        + " values, the operator computes on floats");
            }
        }
    }

    /** Operands of one elementwise operator, a concatenation or a stack share one type. */
    static void requireSameType(DataType a, DataType b) {
        if (a != b) {
            throw new InvalidInputException("operands of types " + a + " and " + b + " do not combine");
        }
    }

    /** The type a constant has in the graph: quantized numbers become floats. */
    static DataType graphType(Weight w) {
        return w.quantization() != null ? DataType.FLOAT : w.data().type();
    }

    /** The values of the inputs, which must share their type. */
    private List<Value> sameType(int[] in) {
        List<Value> vs = Arrays.stream(in).mapToObj(this::value).toList();
        vs.forEach(v -> requireSameType(vs.get(0).type(), v.type()));
        return vs;
    }

    /** Elementwise operators of one input that ONNX has under another name. */
    private static final Map<Integer, String> UNARY = Map.ofEntries(
            Map.entry(BuiltinOperators.LOGISTIC, "Sigmoid"), Map.entry(BuiltinOperators.TANH, "Tanh"),
            Map.entry(BuiltinOperators.RELU, "Relu"), Map.entry(BuiltinOperators.HARD_SWISH, "HardSwish"),
            Map.entry(BuiltinOperators.ABS, "Abs"), Map.entry(BuiltinOperators.SQRT, "Sqrt"),
            Map.entry(BuiltinOperators.EXP, "Exp"), Map.entry(BuiltinOperators.LOG, "Log"),
            Map.entry(BuiltinOperators.NEG, "Neg"), Map.entry(BuiltinOperators.FLOOR, "Floor"),
            Map.entry(BuiltinOperators.CEIL, "Ceil"), Map.entry(BuiltinOperators.ROUND, "Round"),
            Map.entry(BuiltinOperators.SIN, "Sin"), Map.entry(BuiltinOperators.COS, "Cos"),
            Map.entry(BuiltinOperators.ELU, "Elu"));

    /** Elementwise operators of two inputs, with numpy broadcasting in both frameworks. */
    private static final Map<Integer, String> BINARY = Map.of(
            BuiltinOperators.ADD, "Add", BuiltinOperators.SUB, "Sub", BuiltinOperators.MUL, "Mul",
            BuiltinOperators.DIV, "Div", BuiltinOperators.MAXIMUM, "Max", BuiltinOperators.MINIMUM, "Min",
            BuiltinOperators.POW, "Pow");

    /** The binary operators whose options start with a fused activation. */
    private static final Set<Integer> FUSED_BINARY = Set.of(BuiltinOperators.ADD, BuiltinOperators.SUB,
            BuiltinOperators.MUL, BuiltinOperators.DIV);

    /** Comparisons and logical operators of two inputs, with a boolean result (NOT_EQUAL: Equal, then Not). */
    private static final Map<Integer, String> COMPARE = Map.of(
            BuiltinOperators.LESS, "Less", BuiltinOperators.LESS_EQUAL, "LessOrEqual",
            BuiltinOperators.GREATER, "Greater", BuiltinOperators.GREATER_EQUAL, "GreaterOrEqual",
            BuiltinOperators.EQUAL, "Equal", BuiltinOperators.NOT_EQUAL, "Equal",
            BuiltinOperators.LOGICAL_AND, "And", BuiltinOperators.LOGICAL_OR, "Or");

    /** Reductions over constant axes (MEAN has its own path: over the pixels it is a global pool). */
    private static final Map<Integer, String> REDUCE = Map.of(
            BuiltinOperators.SUM, "ReduceSum", BuiltinOperators.REDUCE_MAX, "ReduceMax",
            BuiltinOperators.REDUCE_MIN, "ReduceMin", BuiltinOperators.REDUCE_PROD, "ReduceProd");

    private Value conv(int[] in, Options o, String name) {
        Value x = value(in[0]);
        Weight filter = weights(in[1]); // [out, kh, kw, in / groups]
        long[] f = filter.data().shape();
        if (f.length != 4) {
            throw new InvalidInputException("filter must have 4 dimensions, has " + Arrays.toString(f));
        }
        int groups = x.dim(3) > 0 && f[3] > 0 ? (int) (x.dim(3) / f[3]) : 1;
        Weight kernel = transposed(filter, new int[] {0, 3, 1, 2}, 0);
        Value y = graph.conv(x, kernel, optionalWeights(in, 2),
                new int[] {int32(o, CONV_STRIDE_H, 1), int32(o, CONV_STRIDE_W, 1)},
                new int[] {int32(o, CONV_DILATION_H, 1), int32(o, CONV_DILATION_W, 1)},
                padding(o, CONV_PADDING), groups, name);
        return fused(y, int8(o, CONV_ACTIVATION), name);
    }

    private Value depthwiseConv(int[] in, Options o, String name) {
        Value x = value(in[0]);
        Weight filter = weights(in[1]); // [1, kh, kw, in * multiplier]
        long[] f = filter.data().shape();
        if (f.length != 4 || f[0] != 1) {
            throw new InvalidInputException("depthwise filter must be [1, kh, kw, c], is " + Arrays.toString(f));
        }
        Weight kernel = transposed(filter, new int[] {3, 0, 1, 2}, 3); // [in * multiplier, 1, kh, kw]
        Value y = graph.conv(x, kernel, optionalWeights(in, 2),
                new int[] {int32(o, DEPTHWISE_STRIDE_H, 1), int32(o, DEPTHWISE_STRIDE_W, 1)},
                new int[] {int32(o, DEPTHWISE_DILATION_H, 1), int32(o, DEPTHWISE_DILATION_W, 1)},
                padding(o, DEPTHWISE_PADDING), (int) x.dim(3), name);
        return fused(y, int8(o, DEPTHWISE_ACTIVATION), name);
    }

    private Value fullyConnected(int[] in, Options o, String name, int output) {
        if (int8(o, FULLY_CONNECTED_WEIGHTS_FORMAT) != 0) {
            throw new InvalidInputException("shuffled weights are not supported");
        }
        Value x = value(in[0]);
        Weight weights = weights(in[1]); // [out, in]
        long features = weights.data().dim(1);
        if (!bool(o, FULLY_CONNECTED_KEEP_NUM_DIMS) && x.rank() != 2) {
            x = graph.reshape(x, new long[] {-1, features}, name + "_input");
        }
        Value y = graph.dense(x, transposed(weights, new int[] {1, 0}, 0), optionalWeights(in, 2), name);
        return fused(y, int8(o, FULLY_CONNECTED_ACTIVATION), name);
    }

    private Value softmax(int[] in, Options o, String name) {
        Value x = value(in[0]);
        float beta = o == null ? 1f : o.float32(SOFTMAX_BETA, 0f);
        if (beta != 1f) {
            x = graph.binary("Mul", x, Weight.of(Tensor.scalar(beta)), false, name + "_beta");
        }
        return graph.softmax(x, -1, name);
    }

    /** RESHAPE to a constant shape (the input or the options), or to a shape computed by the graph. */
    private Value reshape(int[] in, Options o, int output, String name) {
        Value x = value(in[0]);
        if (in.length > 1 && in[1] >= 0 && !isConstant(in[1])) {
            return shapes.dynamicReshape(x, value(in[1]), declaredShape(output), name);
        }
        int[] target = in.length > 1 && in[1] >= 0 ? intConstant(in[1])
                : o == null ? new int[0] : o.ints(RESHAPE_NEW_SHAPE);
        return graph.reshape(x, Arrays.stream(target).asLongStream().toArray(), name);
    }

    /** PRELU: the slope broadcasts against the input (usually one per channel). */
    private Value prelu(int[] in, String name) {
        Value x = value(in[0]);
        return isConstant(in[1]) ? graph.binary("PRelu", x, weights(in[1]), false, name)
                : graph.binary("PRelu", x, value(in[1]), name);
    }

    /** GELU as TFLite computes it: with erf, or with tanh when approximate (ONNX has Gelu only from opset 20). */
    private Value gelu(Value x, boolean approximate, String name) {
        Value inner;
        if (approximate) { // tanh(sqrt(2 / pi) * (x + 0.044715 x^3))
            Value cube = graph.binary("Mul", graph.binary("Mul", x, x, name + "_square"), x, name + "_cube");
            Value sum = graph.binary("Add", x, graph.binary("Mul", cube, scalar(0.044715f), false, name + "_cubic"),
                    name + "_sum");
            inner = graph.unary("Tanh", graph.binary("Mul", sum, scalar((float) Math.sqrt(2 / Math.PI)), false,
                    name + "_scaled"), name + "_tanh");
        } else {
            inner = graph.unary("Erf", graph.binary("Mul", x, scalar((float) (1 / Math.sqrt(2))), false,
                    name + "_scaled"), name + "_erf");
        }
        Value half = graph.binary("Mul", x, scalar(0.5f), false, name + "_half");
        return graph.binary("Mul", half, graph.binary("Add", inner, scalar(1f), false, name + "_one_plus"), name);
    }

    /** L2_NORMALIZATION over the last axis: x / max(sqrt(sum(x^2)), 1e-6), TFLite's epsilon. */
    private Value l2Normalize(Value x, String name) {
        long[] kept = x.shape();
        kept[kept.length - 1] = 1;
        Value sum = graph.operator("ReduceSumSquare", List.of(graph.frameworkData(x)), x.type(), List.of(kept), name + "_sum_square", attr("axes", new long[] {-1}), attr("keepdims", 1L)).get(0);
        Value norm = graph.binary("Max", graph.unary("Sqrt", sum, name + "_norm"), scalar(1e-6f), false,
                name + "_norm_clamped");
        return graph.binary("Div", x, norm, name);
    }

    private static Weight scalar(float value) {
        return Weight.of(Tensor.scalar(value));
    }

    /** ADD, SUB or MUL: of two activations, or of an activation and a constant on either side. */
    private Value arithmetic(String opType, int[] in, String name) {
        boolean firstConstant = isConstant(in[0]);
        boolean secondConstant = isConstant(in[1]);
        if (firstConstant && secondConstant) {
            throw new InvalidInputException("both operands are constants");
        }
        if (firstConstant || secondConstant) {
            Value x = value(in[secondConstant ? 0 : 1]);
            Weight c = constant(in[secondConstant ? 1 : 0]);
            requireSameType(x.type(), graphType(c));
            return graph.binary(opType, x, c, firstConstant, name);
        }
        requireSameType(value(in[0]).type(), value(in[1]).type());
        return graph.binary(opType, value(in[0]), value(in[1]), name);
    }

    private Value pad(int[] in, String name) {
        Value x = value(in[0]);
        int[] flat = intConstant(in[1]);
        if (flat.length != 2 * x.rank()) {
            throw new InvalidInputException("paddings for " + flat.length / 2 + " axes of a " + x.rank() + "-D tensor");
        }
        long[][] pads = new long[x.rank()][];
        for (int a = 0; a < x.rank(); a++) {
            pads[a] = new long[] {flat[2 * a], flat[2 * a + 1]};
        }
        float fill = 0f; // a quantized tensor pads with its zero point: 0 as a float
        if (in.length > 2 && in[2] >= 0) {
            fill = floatValue(constant(in[2]));
        }
        return graph.pad(x, pads, fill, name);
    }

    /** DEQUANTIZE of a constant (float16 or int8 weights) stays a constant; of an activation, it is the activation. */
    private Value dequantize(int input, int output) {
        if (isConstant(input)) {
            Weight w = constant(input);
            derivedConstants.put(output, w.quantization() == null
                    ? Weight.of(Tensor.fromDoubles(DataType.FLOAT, w.data().shape(), w.data().toDoubleArray())) : w);
            return null;
        }
        return value(input);
    }

    Value fused(Value y, byte activation, String name) {
        return switch (activation) {
            case 0 -> y;
            case 1 -> graph.unary("Relu", y, name + "_relu");
            case 2 -> graph.clip(y, -1f, 1f, name + "_relu_n1_to_1");
            case 3 -> graph.clip(y, 0f, 6f, name + "_relu6");
            case 4 -> graph.unary("Tanh", y, name + "_tanh");
            default -> throw new InvalidInputException("fused activation " + activation + " is not supported");
        };
    }

    // ---------------------------------------------------------------- tensors

    private Value graphInput(int index) {
        TensorTable t = subgraph.tensor(index);
        DataType type = dataType(t.type(), index);
        Value input = graph.input(tensorName(index), type, declaredShape(index));
        Weight.Quantization q = quantization(index);
        if (q != null) {
            return type == DataType.INT16 ? Int16Quantization.dequantize(graph, input, q, tensorName(index))
                    : graph.dequantize(input, q, tensorName(index) + "_dequantized");
        }
        if (type != DataType.FLOAT && !PLAIN_INPUT_TYPES.contains(type)) {
            throw new InvalidInputException("input '" + tensorName(index) + "' is " + type + " without quantization");
        }
        return input;
    }

    /** Unquantized inputs other than float: token ids, sizes, masks. */
    private static final Set<DataType> PLAIN_INPUT_TYPES = Set.of(DataType.INT32, DataType.INT64, DataType.BOOL);

    /** The tensor's shape as the model declares it, -1 where its signature leaves a dimension open. */
    long[] declaredShape(int index) {
        TensorTable t = subgraph.tensor(index);
        int[] signature = t.shapeSignature();
        return Arrays.stream(signature.length > 0 ? signature : t.shape()).asLongStream().toArray();
    }

    private Value graphOutput(int index) {
        Value v = values.get(index);
        if (v == null) {
            throw new InvalidInputException("output '" + tensorName(index) + "' is computed by no operator");
        }
        Weight.Quantization q = quantization(index);
        if (q == null) {
            return v;
        }
        DataType type = dataType(subgraph.tensor(index).type(), index);
        return type == DataType.INT16 ? Int16Quantization.quantize(graph, v, q, tensorName(index) + "_quantized")
                : graph.quantize(v, q, type, tensorName(index) + "_quantized");
    }

    /** After a float operator, a quantized output tensor keeps its quantization's rounding. */
    private Value quantizeActivation(Value y, int index, String name) {
        Weight.Quantization q = quantization(index);
        if (q == null) {
            return y;
        }
        DataType type = dataType(subgraph.tensor(index).type(), index);
        if (type == DataType.INT16) {
            return Int16Quantization.fakeQuantize(graph, y, q, name + "_q");
        }
        if (type != DataType.INT8 && type != DataType.UINT8) {
            throw new InvalidInputException("tensor '" + name + "' is quantized to " + type
                    + "; only int8, uint8 and int16 activations are supported");
        }
        if (q.perAxis()) {
            throw new InvalidInputException("tensor '" + name + "' is an activation quantized per axis");
        }
        return graph.fakeQuantize(y, q, type, name + "_q");
    }

    /** The value of a tensor: computed by an earlier operator, a graph input, or a constant emitted as one. */
    Value value(int index) {
        if (index < 0) {
            throw new InvalidInputException("a required input is missing");
        }
        Value v = values.get(index);
        if (v == null) {
            if (!isConstant(index)) {
                throw new InvalidInputException("tensor '" + tensorName(index)
                        + "' is read before any operator computes it");
            }
            v = graph.constantValue(constant(index), tensorName(index));
            values.put(index, v);
        }
        return v;
    }

    ChannelsLastGraph graph() {
        return graph;
    }

    boolean isConstant(int index) {
        if (derivedConstants.containsKey(index)) {
            return true;
        }
        long buffer = subgraph.tensor(index).buffer();
        return buffer > 0 && buffer < model.bufferCount() && model.buffer((int) buffer).data().remaining() > 0;
    }

    /** Optional weights: null where the operator leaves the input out (-1). */
    Weight optionalWeights(int[] in, int position) {
        return in.length > position && in[position] >= 0 ? weights(in[position]) : null;
    }

    /** A constant that a float operator multiplies or adds: float data, or quantized numbers. */
    Weight weights(int index) {
        Weight w = constant(index);
        if (graphType(w) != DataType.FLOAT) {
            throw new InvalidInputException("weights '" + tensorName(index) + "' hold " + w.data().type()
                    + " values without quantization");
        }
        return w;
    }

    /**
     * A constant tensor with its quantization, in TFLite's layout. Quantized int16 and int64 data (16x8
     * mode's biases), which ONNX's DequantizeLinear does not take, is dequantized here, and so is every
     * quantized constant of a model with int16 activations (see {@link #int16Activations}).
     */
    Weight constant(int index) {
        Weight derived = derivedConstants.get(index);
        if (derived != null) {
            return derived;
        }
        TensorTable t = subgraph.tensor(index);
        if (t.isSparse()) {
            throw new InvalidInputException("sparse tensor '" + tensorName(index) + "' is not supported");
        }
        long bufferIndex = t.buffer();
        if (bufferIndex <= 0 || bufferIndex >= model.bufferCount()) {
            throw new InvalidInputException("tensor '" + tensorName(index) + "' should be a constant but has no data");
        }
        Buffer buffer = model.buffer((int) bufferIndex);
        if (buffer.offset() > 1) {
            throw new InvalidInputException("tensor '" + tensorName(index) + "' keeps its data outside the flatbuffer "
                    + "(models above 2 GB), which is not supported");
        }
        DataType type = dataType(t.type(), index);
        long[] shape = Arrays.stream(t.shape()).asLongStream().toArray();
        ByteBuffer data = buffer.data();
        long expected = type.byteSize(elements(shape));
        if (data.remaining() != expected) {
            throw new InvalidInputException("constant '" + tensorName(index) + "' has " + data.remaining()
                    + " bytes, its type and shape need " + expected);
        }
        byte[] bytes = new byte[data.remaining()];
        data.get(bytes);
        Weight w = new Weight(Tensor.of(type, shape, bytes), quantization(index));
        boolean wide = type == DataType.INT16 || type == DataType.INT64;
        return w.quantization() != null && (wide || int16Activations) ? dequantized(w) : w;
    }

    /** A quantized constant as float data: {@code scale * (q - zeroPoint)}, per axis where it has several scales. */
    static Weight dequantized(Weight w) {
        Weight.Quantization q = w.quantization();
        if (q == null) {
            return w;
        }
        double[] data = w.data().toDoubleArray();
        double[] scale = q.scale().toDoubleArray();
        double[] zero = q.zeroPoint().toDoubleArray();
        long[] shape = w.data().shape();
        long inner = 1;
        for (int a = q.axis() + 1; q.perAxis() && a < shape.length; a++) {
            inner *= shape[a];
        }
        float[] out = new float[data.length];
        for (int i = 0; i < data.length; i++) {
            int c = q.perAxis() ? (int) ((i / inner) % scale.length) : 0;
            out[i] = (float) ((data[i] - zero[c]) * scale[c]);
        }
        return Weight.of(Tensor.ofFloats(shape, out));
    }

    int[] intConstant(int index) {
        Tensor t = constant(index).data();
        if (t.type() != DataType.INT32 && t.type() != DataType.INT64) {
            throw new InvalidInputException("'" + tensorName(index) + "' should hold integers, holds " + t.type());
        }
        return Arrays.stream(t.toLongArray()).mapToInt(Math::toIntExact).toArray();
    }

    private static float floatValue(Weight w) {
        double[] values = w.data().toDoubleArray();
        if (values.length != 1) {
            throw new InvalidInputException("expected one value, got " + values.length);
        }
        Weight.Quantization q = w.quantization();
        return q == null ? (float) values[0]
                : (float) ((values[0] - q.zeroPoint().toDoubleArray()[0]) * q.scale().toDoubleArray()[0]);
    }

    /** Whether a tensor holds quantized numbers. */
    boolean quantized(int index) {
        return quantization(index) != null;
    }

    /** The tensor's quantization as ONNX needs it, or null for a float tensor. */
    private Weight.Quantization quantization(int index) {
        TensorTable t = subgraph.tensor(index);
        QuantizationParameters q = t.quantization();
        if (q == null || q.scale().length == 0) {
            return null;
        }
        if (q.hasCustomDetails()) {
            throw new InvalidInputException("tensor '" + tensorName(index) + "' uses custom quantization");
        }
        DataType type = dataType(t.type(), index);
        if (type.kind() != DataType.Kind.SIGNED && type.kind() != DataType.Kind.UNSIGNED) {
            return null; // a float tensor may carry the ranges it was calibrated with; it is not quantized
        }
        float[] scale = q.scale();
        long[] zeroPoint = q.zeroPoint();
        if (zeroPoint.length == 0) {
            zeroPoint = new long[scale.length];
        }
        if (zeroPoint.length != scale.length) {
            throw new InvalidInputException("tensor '" + tensorName(index) + "' has " + scale.length + " scales and "
                    + zeroPoint.length + " zero points");
        }
        long[] dims = {scale.length};
        Tensor zero = Tensor.fromDoubles(type, dims, Arrays.stream(zeroPoint).asDoubleStream().toArray());
        return new Weight.Quantization(Tensor.ofFloats(dims, scale), zero, q.quantizedDimension());
    }

    /** A constant with its axes permuted, a per-axis quantization following its axis. */
    static Weight transposed(Weight w, int[] perm) {
        Weight.Quantization q = w.quantization();
        return transposed(w, perm, q == null ? 0 : q.axis());
    }

    /** A constant in ONNX's layout: its data transposed, a per-axis quantization following its axis. */
    static Weight transposed(Weight w, int[] perm, int quantizedAxis) {
        Tensor data = TensorLayouts.transpose(w.data(), perm);
        Weight.Quantization q = w.quantization();
        if (q != null && q.perAxis()) {
            if (q.axis() != quantizedAxis) {
                throw new InvalidInputException("weights quantized along axis " + q.axis() + " are not supported");
            }
            int moved = 0;
            while (perm[moved] != quantizedAxis) {
                moved++;
            }
            q = new Weight.Quantization(q.scale(), q.zeroPoint(), moved);
        }
        return new Weight(data, q);
    }

    /** A quantized tensor is computed as floats; any other as the type the model declares. */
    private void checkType(Value y, int index) {
        DataType declared = dataType(index);
        DataType expected = quantization(index) != null ? DataType.FLOAT : declared;
        if (y.type() != expected) {
            throw new InvalidInputException("computes " + y.type() + " values but the model declares " + declared
                    + (expected != declared ? " (quantized)" : ""));
        }
    }

    private void checkShape(Value y, int index) {
        int[] declared = subgraph.tensor(index).shape();
        long[] computed = y.shape();
        boolean matches = declared.length == computed.length;
        for (int i = 0; matches && i < declared.length; i++) {
            boolean batch = i == 0;
            matches = computed[i] < 0 || declared[i] == computed[i] || batch;
        }
        if (!matches) {
            throw new InvalidInputException("computes shape " + Arrays.toString(computed) + " but the model declares "
                    + Arrays.toString(declared));
        }
    }

    String tensorName(int index) {
        if (index < 0 || index >= subgraph.tensorCount()) {
            throw new InvalidInputException("tensor index " + index + " is out of range (the model has "
                    + subgraph.tensorCount() + " tensors)");
        }
        String name = subgraph.tensor(index).name();
        return name == null || name.isEmpty() ? "tensor_" + index : name;
    }

    DataType dataType(int index) {
        return dataType(subgraph.tensor(index).type(), index);
    }

    /** TFLite's TensorType INT16. */
    private static final byte TFLITE_INT16 = 7;

    private DataType dataType(byte tfliteType, int index) {
        return switch (tfliteType) {
            case 0 -> DataType.FLOAT;
            case 1 -> DataType.FLOAT16;
            case 2 -> DataType.INT32;
            case 3 -> DataType.UINT8;
            case 4 -> DataType.INT64;
            case 6 -> DataType.BOOL;
            case 7 -> DataType.INT16;
            case 9 -> DataType.INT8;
            case 10 -> DataType.DOUBLE;
            default -> throw new InvalidInputException("tensor '" + tensorName(index) + "' has TFLite type "
                    + tfliteType + ", which is not supported");
        };
    }

    private static long elements(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    static int int32(Options o, int field, int defaultValue) {
        return o == null ? defaultValue : o.int32(field, defaultValue);
    }

    static byte int8(Options o, int field) {
        return o == null ? 0 : o.int8(field, (byte) 0);
    }

    static boolean bool(Options o, int field) {
        return o != null && o.bool(field, false);
    }

    static Padding padding(Options o, int field) {
        return int8(o, field) == 1 ? Padding.VALID : Padding.SAME; // enum Padding { SAME, VALID }
    }
}
