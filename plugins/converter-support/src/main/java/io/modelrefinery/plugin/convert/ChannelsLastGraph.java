package io.modelrefinery.plugin.convert;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;

/**
 * Builds an ONNX graph from the operations of a channels-last framework (Keras, TensorFlow Lite), keeping
 * the model's inputs and outputs channels-last while convolutions run channels-first as ONNX defines them.
 *
 * <p>Every {@link Value} keeps its framework shape (channels last) and remembers how its data is laid out
 * in the graph. Layout changes happen only where an operation needs them and are shared by all readers,
 * so a chain of convolutions pays for one Transpose at its start; elementwise operations run in whatever
 * layout their input has; a layout change of a tensor with one channel (or one pixel) is a Reshape; and
 * a Flatten of channels-first data followed by a dense layer costs nothing, because the dense weights'
 * rows are permuted instead. Operations refuse shapes that do not fit with an {@link InvalidInputException}
 * that the converter prefixes with the layer's position.
 */
public final class ChannelsLastGraph {
    /** Operator set of the graphs built: HardSwish needs 14; 17 is read by every current runtime. */
    public static final long OPSET = 17;

    private final List<NodeProto> nodes = new ArrayList<>();
    private final List<TensorProto> initializers = new ArrayList<>();
    private final List<ValueInfoProto> inputs = new ArrayList<>();
    private final Map<String, Value> outputs = new LinkedHashMap<>();
    private final Set<String> names = new HashSet<>();
    private final Set<String> reserved = new HashSet<>();
    private int layoutChanges;

    /** Spatial padding of convolutions and pools, as TensorFlow defines it. */
    public enum Padding {
        /** No padding: windows lie inside the input. */
        VALID,
        /** Output size is input size divided by the stride, rounded up; any odd pixel of padding goes last. */
        SAME
    }

    /**
     * A tensor of the graph as the framework sees it: channels-last shape, and where its data lives.
     * Immutable for callers; the graph caches other layouts of the same data on it.
     */
    public static final class Value {
        private final String name;
        private final DataType type;
        private final long[] shape;
        private final boolean channelsFirst;
        /** Rank 2 only: column {@code j} of the data holds framework feature {@code featureOrder[j]}. */
        private final int[] featureOrder;
        /** With a feature order: the channels-first value whose Flatten this is. */
        private final Value flattenedFrom;
        /** The channels-last data this value is a Reshape of, so that a layout change can reshape it directly. */
        private final Value reshapedFrom;
        private Value otherLayout;
        private Value inFrameworkOrder;

        private Value(String name, DataType type, long[] shape, boolean channelsFirst, int[] featureOrder,
                      Value flattenedFrom, Value reshapedFrom) {
            this.name = name;
            this.type = type;
            this.shape = shape.clone();
            this.channelsFirst = channelsFirst;
            this.featureOrder = featureOrder;
            this.flattenedFrom = flattenedFrom;
            this.reshapedFrom = reshapedFrom;
        }

        private static Value plain(String name, DataType type, long[] shape) {
            return new Value(name, type, shape, false, null, null, null);
        }

        /** The framework's (channels-last) shape; -1 for unknown dimensions. */
        public long[] shape() {
            return shape.clone();
        }

        public long dim(int axis) {
            return shape[axis < 0 ? shape.length + axis : axis];
        }

        public int rank() {
            return shape.length;
        }

        public DataType type() {
            return type;
        }

        /** Whether the graph holds the data channels-first, for tests and metrics. */
        public boolean isChannelsFirst() {
            return channelsFirst;
        }

        @Override
        public String toString() {
            return name + shapeText(shape);
        }
    }

    /** Keeps {@code name} free for a graph output of that name. */
    public void reserve(String name) {
        reserved.add(name);
    }

    /** A graph input of the framework's shape (-1 dimensions become symbolic). */
    public Value input(String name, DataType type, long... shape) {
        if (!names.add(name)) {
            throw new InvalidInputException("two inputs are named '" + name + "'");
        }
        inputs.add(OnnxHelper.valueInfo(name, type, shape));
        return Value.plain(name, type, shape);
    }

    /** Makes {@code value} a graph output called {@code name}, in the framework's layout. */
    public void output(Value value, String name) {
        if (outputs.containsKey(name)) {
            throw new InvalidInputException("two outputs are named '" + name + "'");
        }
        outputs.put(name, frameworkLayout(value));
    }

    /** A constant; returns the name of its initializer. */
    public String constant(Tensor value, String hint) {
        String name = fresh(hint);
        initializers.add(value.toProto(name));
        return name;
    }

    /** A weight as a float value: its initializer, dequantized when it is quantized. */
    public String weight(Weight weight, String hint) {
        String data = constant(weight.data(), hint);
        Weight.Quantization q = weight.quantization();
        if (q == null) {
            return data;
        }
        return dequantizeLinear(data, q, hint + "_dequantized");
    }

    // ---------------------------------------------------------------- layers

    /**
     * A 2-D convolution.
     *
     * @param kernel weights in ONNX's layout {@code [out, in / group, kh, kw]}
     * @param bias {@code [out]}, or {@code null}
     */
    public Value conv(Value x, Weight kernel, Weight bias, int[] strides, int[] dilations, Padding padding, int group,
                      String hint) {
        requireRank(x, 4, "a 2-D convolution");
        long[] k = kernel.data().shape();
        if (k.length != 4) {
            throw new InvalidInputException("convolution kernel must have 4 dimensions, has " + shapeText(k));
        }
        long channels = x.dim(3);
        if (channels >= 0 && channels != k[1] * group) {
            throw new InvalidInputException("convolution expects " + k[1] * group + " input channels, gets " + channels);
        }
        Value in = channelsFirst(x);
        int[] kernelSize = {(int) k[2], (int) k[3]};
        List<String> args = new ArrayList<>(List.of(in.name, weight(kernel, hint + "_kernel")));
        if (bias != null) {
            args.add(weight(bias, hint + "_bias"));
        }
        List<AttributeProto> attrs = new ArrayList<>(List.of(attr("kernel_shape", longs(kernelSize)),
                attr("strides", longs(strides)), attr("dilations", longs(dilations)), attr("group", (long) group)));
        long[] outShape = windowed(x, kernelSize, strides, dilations, padding, k[0], attrs);
        String out = emit("Conv", args, hint, attrs);
        return new Value(out, DataType.FLOAT, outShape, true, null, null, null);
    }

    /** {@code MaxPool} or {@code AveragePool}; padding never counts in an average, as in TensorFlow. */
    public Value pool(String opType, Value x, int[] poolSize, int[] strides, Padding padding, String hint) {
        requireRank(x, 4, "a 2-D pooling");
        Value in = channelsFirst(x);
        List<AttributeProto> attrs = new ArrayList<>(List.of(attr("kernel_shape", longs(poolSize)),
                attr("strides", longs(strides))));
        long[] outShape = windowed(x, poolSize, strides, new int[] {1, 1}, padding, x.dim(3), attrs);
        String out = emit(opType, List.of(in.name), hint, attrs);
        return new Value(out, x.type, outShape, true, null, null, null);
    }

    /** The mean over all pixels: {@code [n, c]}, or {@code [n, 1, 1, c]} with {@code keepDims}. */
    public Value globalAveragePool(Value x, boolean keepDims, String hint) {
        requireRank(x, 4, "a global pooling");
        String pooled = emit("GlobalAveragePool", List.of(channelsFirst(x).name), hint);
        Value out = new Value(pooled, x.type, new long[] {x.dim(0), 1, 1, x.dim(3)}, true, null, null, null);
        return keepDims ? out : flatten(out, hint + "_flat");
    }

    /** The mean over {@code axes} (framework axes); the pixels of an image become a global average pool. */
    public Value mean(Value x, int[] axes, boolean keepDims, String hint) {
        int[] sorted = normalizeAxes(axes, x.rank());
        if (x.rank() == 4 && Arrays.equals(sorted, new int[] {1, 2})) {
            return globalAveragePool(x, keepDims, hint);
        }
        Value in = frameworkLayout(x);
        String out = emit("ReduceMean", List.of(in.name), hint, attr("axes", longs(sorted)),
                attr("keepdims", keepDims ? 1L : 0L));
        List<Long> shape = new ArrayList<>();
        for (int i = 0; i < x.rank(); i++) {
            if (Arrays.binarySearch(sorted, i) < 0) {
                shape.add(x.dim(i));
            } else if (keepDims) {
                shape.add(1L);
            }
        }
        return Value.plain(out, x.type, shape.stream().mapToLong(Long::longValue).toArray());
    }

    /**
     * A dense layer on the last axis.
     *
     * @param kernel {@code [in, out]}
     * @param bias {@code [out]}, or {@code null}
     */
    public Value dense(Value x, Weight kernel, Weight bias, String hint) {
        long[] k = kernel.data().shape();
        if (k.length != 2) {
            throw new InvalidInputException("dense kernel must have 2 dimensions, has " + shapeText(k));
        }
        if (x.dim(-1) >= 0 && x.dim(-1) != k[0]) {
            throw new InvalidInputException("dense layer expects " + k[0] + " input features, gets " + x.dim(-1));
        }
        long[] outShape = x.shape();
        outShape[outShape.length - 1] = k[1];
        if (x.rank() == 2) {
            Weight ordered = x.featureOrder == null ? kernel : permuteRows(kernel, x.featureOrder);
            List<String> args = new ArrayList<>(List.of(x.name, weight(ordered, hint + "_kernel")));
            if (bias != null) {
                args.add(weight(bias, hint + "_bias"));
            }
            return Value.plain(emit("Gemm", args, hint), DataType.FLOAT, outShape);
        }
        Value in = frameworkLayout(x);
        String product = emit("MatMul", List.of(in.name, weight(kernel, hint + "_kernel")),
                bias == null ? hint : hint + "_matmul");
        String out = bias == null ? product : emit("Add", List.of(product, weight(bias, hint + "_bias")), hint);
        return Value.plain(out, DataType.FLOAT, outShape);
    }

    /** Batch normalization over the last (channel) axis with fixed statistics. */
    public Value batchNormalization(Value x, float[] scale, float[] offset, float[] mean, float[] variance,
                                    float epsilon, String hint) {
        long channels = x.dim(-1);
        if (channels >= 0 && channels != scale.length) {
            throw new InvalidInputException("batch normalization has " + scale.length + " channels, input has "
                    + channels);
        }
        Value in = x.rank() > 2 ? channelsFirst(x) : x;
        int[] order = in.featureOrder;
        List<String> args = new ArrayList<>(List.of(in.name));
        String[] parts = {"scale", "offset", "mean", "variance"};
        float[][] values = {scale, offset, mean, variance};
        for (int i = 0; i < values.length; i++) {
            args.add(constant(Tensor.ofFloats(new long[] {values[i].length}, reorder(values[i], order)),
                    hint + "_" + parts[i]));
        }
        String out = emit("BatchNormalization", args, hint, attr("epsilon", epsilon));
        return new Value(out, x.type, x.shape, in.channelsFirst, order, in.flattenedFrom, null);
    }

    /** An elementwise operation of one input, which keeps any layout: {@code Relu}, {@code Sigmoid}, .... */
    public Value unary(String opType, Value x, String hint, AttributeProto... attributes) {
        return sameLayout(x, emit(opType, List.of(x.name), hint, attributes));
    }

    /** Values clipped to {@code [min, max]}; relu6 is {@code clip(x, 0, 6)}. */
    public Value clip(Value x, float min, float max, String hint) {
        String lo = constant(Tensor.scalar(min), hint + "_min");
        String hi = constant(Tensor.scalar(max), hint + "_max");
        return sameLayout(x, emit("Clip", List.of(x.name, lo, hi), hint));
    }

    /** {@code x * sigmoid(x)} (swish, SiLU), as two nodes: ONNX has no Swish before opset 24. */
    public Value swish(Value x, String hint) {
        String gate = emit("Sigmoid", List.of(x.name), hint + "_sigmoid");
        return sameLayout(x, emit("Mul", List.of(x.name, gate), hint));
    }

    /** Softmax along a framework axis (usually the last). */
    public Value softmax(Value x, int axis, String hint) {
        int a = normalizeAxes(new int[] {axis}, x.rank())[0];
        if (x.rank() == 2) { // a permutation of the features does not change a softmax across them
            return sameLayout(x, emit("Softmax", List.of(x.name), hint, attr("axis", (long) a)));
        }
        return sameLayout(x, emit("Softmax", List.of(x.name), hint, attr("axis", (long) physicalAxis(x, a))));
    }

    /** An elementwise operation of two values with broadcasting: {@code Add}, {@code Sub}, {@code Mul}, .... */
    public Value binary(String opType, Value a, Value b, String hint) {
        List<Value> aligned = align(List.of(a, b));
        Value first = aligned.get(0);
        String out = emit(opType, List.of(first.name, aligned.get(1).name), hint);
        return new Value(out, a.type, broadcast(a.shape, b.shape), first.channelsFirst, first.featureOrder,
                first.flattenedFrom, null);
    }

    /**
     * An elementwise operation of a value and a constant, with broadcasting in the framework's layout.
     *
     * @param constantFirst whether the constant is the left operand (matters for {@code Sub} and {@code Div})
     */
    public Value binary(String opType, Value x, Weight constant, boolean constantFirst, String hint) {
        long[] cShape = constant.data().shape();
        long[] shape = broadcast(x.shape, cShape);
        Weight.Quantization q = constant.quantization();
        boolean perTensor = q == null || !q.perAxis();
        Value in = x;
        Weight c = constant;
        if (x.channelsFirst && perTensor && cShape.length <= x.rank()) {
            c = new Weight(toChannelsFirst(c.data(), x.rank()), q);
        } else if (x.featureOrder != null && perTensor && cShape.length <= 1) {
            if (cShape.length == 1 && cShape[0] > 1) { // one value per feature: follow the features' order
                c = new Weight(TensorLayouts.takeRows(c.data(), x.featureOrder), q);
            }
        } else {
            in = frameworkLayout(x);
        }
        String k = weight(c, hint + "_constant");
        String out = emit(opType, constantFirst ? List.of(k, in.name) : List.of(in.name, k), hint);
        return new Value(out, x.type, shape, in.channelsFirst, in.featureOrder, in.flattenedFrom, null);
    }

    /** The sum (or another elementwise fold) of several values: {@code Add}, {@code Mul}, {@code Max}, .... */
    public Value fold(String opType, List<Value> values, String hint) {
        Value acc = values.get(0);
        for (int i = 1; i < values.size(); i++) {
            acc = binary(opType, acc, values.get(i), i == values.size() - 1 ? hint : hint + "_" + i);
        }
        return acc;
    }

    /** Values joined along a framework axis. */
    public Value concat(List<Value> values, int axis, String hint) {
        int rank = values.get(0).rank();
        for (Value v : values) {
            if (v.rank() != rank) {
                throw new InvalidInputException("concatenated tensors differ in rank: " + values);
            }
        }
        int a = normalizeAxes(new int[] {axis}, rank)[0];
        List<Value> aligned = rank > 2 ? align(values) : values.stream().map(this::frameworkLayout).toList();
        long[] shape = values.get(0).shape();
        for (int i = 1; i < values.size(); i++) {
            long d = values.get(i).dim(a);
            shape[a] = shape[a] < 0 || d < 0 ? -1 : shape[a] + d;
        }
        Value first = aligned.get(0);
        String out = emit("Concat", aligned.stream().map(v -> v.name).toList(), hint,
                attr("axis", (long) physicalAxis(first, a)));
        return new Value(out, first.type, shape, first.channelsFirst, null, null, null);
    }

    /**
     * Constant padding.
     *
     * @param pads per framework axis, {@code {before, after}}
     */
    public Value pad(Value x, long[][] pads, float value, String hint) {
        if (pads.length != x.rank()) {
            throw new InvalidInputException("padding for " + pads.length + " axes of a " + x.rank() + "-D tensor");
        }
        Value in = x.rank() > 2 ? channelsFirst(x) : frameworkLayout(x);
        long[] flat = new long[2 * x.rank()];
        long[] shape = x.shape();
        for (int a = 0; a < x.rank(); a++) {
            int p = physicalAxis(in, a);
            flat[p] = pads[a][0];
            flat[x.rank() + p] = pads[a][1];
            shape[a] = shape[a] < 0 ? -1 : shape[a] + pads[a][0] + pads[a][1];
        }
        String out = emit("Pad", List.of(in.name, constant(Tensor.ofLongs(new long[] {flat.length}, flat),
                hint + "_pads"), constant(Tensor.scalar(value), hint + "_value")), hint);
        return new Value(out, x.type, shape, in.channelsFirst, null, null, null);
    }

    /** All but the first axis merged into one, in the framework's order. */
    public Value flatten(Value x, String hint) {
        if (x.rank() == 2) {
            return x;
        }
        long features = product(x.shape, 1, x.rank());
        long[] shape = {x.dim(0), features};
        if (!x.channelsFirst) {
            return Value.plain(emit("Flatten", List.of(x.name), hint, attr("axis", 1L)), x.type, shape);
        }
        long channels = x.dim(-1);
        long pixels = product(x.shape, 1, x.rank() - 1);
        if (channels < 0 || pixels < 0) {
            return flatten(channelsLast(x), hint);
        }
        String out = emit("Flatten", List.of(x.name), hint, attr("axis", 1L));
        if (channels == 1 || pixels == 1) { // both layouts list the elements in the same order
            return Value.plain(out, x.type, shape);
        }
        int[] order = new int[Math.toIntExact(features)];
        for (int c = 0; c < channels; c++) {
            for (int p = 0; p < pixels; p++) {
                order[(int) (c * pixels + p)] = (int) (p * channels + c);
            }
        }
        return new Value(out, x.type, shape, false, order, x, null);
    }

    /**
     * A reshape to {@code target}: ONNX's convention, 0 copies the input's dimension and -1 is inferred.
     * Merging everything but the batch axis is a {@link #flatten}.
     */
    public Value reshape(Value x, long[] target, String hint) {
        long[] shape = target.clone();
        int inferred = -1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] == 0 && i < x.rank()) {
                shape[i] = x.dim(i);
            }
            if (target[i] == -1) {
                inferred = i;
            }
        }
        long total = product(x.shape, 0, x.rank());
        long perBatch = product(x.shape, 1, x.rank());
        boolean batchKept = shape.length > 0 && x.rank() > 0 && (target[0] == 0 || shape[0] == x.dim(0));
        if (inferred >= 0) {
            shape[inferred] = 1;
            long rest = product(shape, 0, shape.length);
            long restPerBatch = product(shape, 1, shape.length);
            if (total >= 0 && rest > 0) {
                shape[inferred] = total / rest;
            } else if (inferred > 0 && batchKept && perBatch >= 0 && restPerBatch > 0) {
                shape[inferred] = perBatch / restPerBatch; // the batch may be unknown, what follows it is not
            } else if (inferred == 0 && perBatch >= 0 && restPerBatch == perBatch) {
                shape[0] = x.dim(0);
            } else {
                shape[inferred] = -1;
            }
        }
        if (shape.length == 2 && x.rank() > 2 && perBatch >= 0 && shape[1] == perBatch
                && (shape[0] == x.dim(0) || target[0] == -1 || target[0] == 0)) {
            return flatten(x, hint);
        }
        Value in = frameworkLayout(x);
        String out = emit("Reshape", List.of(in.name, constant(Tensor.ofLongs(new long[] {target.length}, target),
                hint + "_shape")), hint);
        return new Value(out, x.type, shape, false, null, null, in);
    }

    /** A float value rounded to a quantized type and back: how a quantized activation keeps its numbers. */
    public Value fakeQuantize(Value x, Weight.Quantization q, DataType quantizedType, String hint) {
        String quantized = quantizeLinear(x.name, q, quantizedType, hint + "_quantized");
        return sameLayout(x, dequantizeLinear(quantized, q, hint));
    }

    /** A quantized value (a quantized graph input) as floats. */
    public Value dequantize(Value x, Weight.Quantization q, String hint) {
        return new Value(dequantizeLinear(x.name, q, hint), DataType.FLOAT, x.shape, x.channelsFirst, x.featureOrder,
                x.flattenedFrom, null);
    }

    /** A float value quantized (for a quantized graph output). */
    public Value quantize(Value x, Weight.Quantization q, DataType quantizedType, String hint) {
        Value in = frameworkLayout(x);
        return Value.plain(quantizeLinear(in.name, q, quantizedType, hint), quantizedType, x.shape);
    }

    // ---------------------------------------------------------------- constants as values

    /** A constant as a value, for an operator that reads a constant where an activation usually goes. */
    public Value constantValue(Weight constant, String hint) {
        DataType type = constant.quantization() == null ? constant.data().type() : DataType.FLOAT;
        return Value.plain(weight(constant, hint), type, constant.data().shape());
    }

    // ---------------------------------------------------------------- building

    /** Layout changes the graph needed (Transpose or Reshape nodes), for the converter's metrics. */
    public int layoutChanges() {
        return layoutChanges;
    }

    /**
     * The model: nodes in the order they were added, minus any that no output needs, with the graph
     * outputs renamed to their names.
     */
    public OnnxModel build(String graphName, String producer) {
        Map<String, String> renames = new LinkedHashMap<>();
        List<NodeProto> identities = new ArrayList<>();
        Set<String> inputNames = new HashSet<>();
        inputs.forEach(i -> inputNames.add(i.getName()));
        for (Map.Entry<String, Value> output : outputs.entrySet()) {
            String wanted = output.getKey();
            String value = output.getValue().name;
            if (value.equals(wanted)) {
                continue;
            }
            if (inputNames.contains(wanted)) {
                throw new InvalidInputException("output '" + wanted + "' has the name of an input");
            }
            if (names.contains(wanted)) { // another value took the name: it gets a fresh one
                renames.put(wanted, fresh(wanted));
            }
            if (inputNames.contains(value) || renames.containsKey(value) || isInitializer(value)) {
                identities.add(OnnxHelper.node("Identity", List.of(value), List.of(wanted)));
            } else {
                renames.put(value, wanted);
            }
        }
        List<NodeProto> all = new ArrayList<>();
        for (NodeProto node : nodes) {
            all.add(rename(node, renames));
        }
        all.addAll(identities);
        List<ValueInfoProto> outputInfos = new ArrayList<>();
        for (Map.Entry<String, Value> output : outputs.entrySet()) {
            outputInfos.add(OnnxHelper.valueInfo(output.getKey(), output.getValue().type, output.getValue().shape));
        }
        List<NodeProto> live = liveNodes(all, outputs.keySet());
        Set<String> read = new HashSet<>();
        live.forEach(n -> read.addAll(n.getInputList()));
        List<TensorProto> used = initializers.stream()
                .map(t -> renames.containsKey(t.getName()) ? t.toBuilder().setName(renames.get(t.getName())).build() : t)
                .filter(t -> read.contains(t.getName()) || outputs.containsKey(t.getName())).toList();
        GraphProto graph = OnnxHelper.graph(graphName, live, inputs, outputInfos, used);
        return OnnxModel.of(OnnxHelper.model(graph, OPSET).toBuilder().setProducerName(producer).build());
    }

    private boolean isInitializer(String name) {
        return initializers.stream().anyMatch(t -> t.getName().equals(name));
    }

    private static NodeProto rename(NodeProto node, Map<String, String> renames) {
        NodeProto.Builder b = node.toBuilder();
        for (int i = 0; i < b.getInputCount(); i++) {
            b.setInput(i, renames.getOrDefault(b.getInput(i), b.getInput(i)));
        }
        for (int i = 0; i < b.getOutputCount(); i++) {
            b.setOutput(i, renames.getOrDefault(b.getOutput(i), b.getOutput(i)));
        }
        return b.build();
    }

    /** The nodes some graph output depends on, in their original order. */
    private static List<NodeProto> liveNodes(List<NodeProto> all, Set<String> outputNames) {
        Set<String> needed = new HashSet<>(outputNames);
        boolean[] keep = new boolean[all.size()];
        for (int i = all.size() - 1; i >= 0; i--) {
            NodeProto node = all.get(i);
            if (node.getOutputList().stream().anyMatch(needed::contains)) {
                keep[i] = true;
                needed.addAll(node.getInputList());
            }
        }
        List<NodeProto> live = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) {
            if (keep[i]) {
                live.add(all.get(i));
            }
        }
        return live;
    }

    // ---------------------------------------------------------------- other operators

    /**
     * The name of {@code x}'s data in the framework's layout (channels last, features in order), for an
     * operator this class does not offer; see {@link #operator}.
     */
    public String frameworkData(Value x) {
        return frameworkLayout(x).name;
    }

    /**
     * Emits one operator and returns its outputs as values in the framework's layout.
     *
     * @param inputs tensor names: {@link #frameworkData} of values, {@link #constant}s, or "" for an absent
     *               optional input
     * @param outputShapes the framework shape of each output
     */
    public List<Value> operator(String opType, List<String> inputs, DataType type, List<long[]> outputShapes,
                                String hint, AttributeProto... attributes) {
        NodeProto.Builder node = NodeProto.newBuilder().setOpType(opType).addAllInput(inputs);
        List<Value> outs = new ArrayList<>();
        for (int i = 0; i < outputShapes.size(); i++) {
            String out = fresh(i == 0 ? hint : hint + "_" + i);
            node.addOutput(out);
            outs.add(Value.plain(out, type, outputShapes.get(i)));
        }
        nodes.add(node.setName(node.getOutput(0) + "_" + opType).addAllAttribute(List.of(attributes)).build());
        return outs;
    }

    /**
     * A framework value whose own layout is channels first ({@code [n, c, d1, ...]}, as in a channels-first
     * Keras model) seen as the channels-last tensor {@code [n, d1, ..., c]} held channels first: convolutions
     * then read its data as it is, without a Transpose. {@link #channelsFirstData} is the inverse.
     */
    public Value channelsFirstView(Value x) {
        if (x.rank() < 3) {
            throw new InvalidInputException("a channels-first tensor needs at least 3 dimensions, gets " + x);
        }
        Value in = frameworkLayout(x);
        long[] shape = new long[x.rank()];
        shape[0] = x.dim(0);
        shape[x.rank() - 1] = x.dim(1);
        System.arraycopy(x.shape, 2, shape, 1, x.rank() - 2);
        return new Value(in.name, x.type, shape, true, null, null, null);
    }

    /** The data of {@code x} ({@code [n, d1, ..., c]}) channels first, as a framework value {@code [n, c, d1, ...]}. */
    public Value channelsFirstData(Value x) {
        if (x.rank() < 3) {
            throw new InvalidInputException("a channels-first tensor needs at least 3 dimensions, gets " + x);
        }
        return Value.plain(channelsFirst(x).name, x.type, channelsFirstShape(x.shape));
    }

    // ---------------------------------------------------------------- layouts

    private Value channelsFirst(Value v) {
        if (v.channelsFirst || v.rank() < 3) {
            return v.rank() == 2 ? frameworkLayout(v) : v;
        }
        return changeLayout(v, true);
    }

    private Value channelsLast(Value v) {
        return v.channelsFirst ? changeLayout(v, false) : v;
    }

    /** The value in the framework's own layout: channels last, features in order. */
    private Value frameworkLayout(Value v) {
        if (v.channelsFirst) {
            return channelsLast(v);
        }
        if (v.featureOrder == null) {
            return v;
        }
        if (v.inFrameworkOrder == null) {
            Value source = channelsLast(v.flattenedFrom);
            v.inFrameworkOrder = Value.plain(emit("Flatten", List.of(source.name), v.name + "_ordered",
                    attr("axis", 1L)), v.type, v.shape);
        }
        return v.inFrameworkOrder;
    }

    private Value changeLayout(Value v, boolean toChannelsFirst) {
        if (v.otherLayout != null) {
            return v.otherLayout;
        }
        int rank = v.rank();
        long[] physical = toChannelsFirst ? channelsFirstShape(v.shape) : v.shape;
        String hint = v.name + (toChannelsFirst ? "_channels_first" : "_channels_last");
        String out;
        long channels = v.dim(-1);
        long pixels = product(v.shape, 1, rank - 1);
        boolean sameOrder = channels == 1 || pixels == 1;
        if (sameOrder && product(physical, 1, rank) >= 0) {
            // Moving an axis of size 1 moves no data: reshape, from the reshape's own input if there is one.
            Value source = v.reshapedFrom != null ? v.reshapedFrom : v;
            long[] target = physical.clone();
            if (target[0] < 0) {
                target[0] = source.rank() > 0 && source.dim(0) < 0 ? 0 : -1;
            }
            out = emit("Reshape", List.of(source.name, constant(Tensor.ofLongs(new long[] {rank}, target),
                    hint + "_shape")), hint);
        } else {
            out = emit("Transpose", List.of(v.name), hint, attr("perm", longs(layoutPermutation(rank,
                    toChannelsFirst))));
        }
        layoutChanges++;
        Value changed = new Value(out, v.type, v.shape, toChannelsFirst, null, null, null);
        changed.otherLayout = v;
        v.otherLayout = changed;
        return changed;
    }

    /** Brings values to one layout for an elementwise operation: channels-first if any of them is. */
    private List<Value> align(List<Value> values) {
        boolean sameRank = values.stream().allMatch(v -> v.rank() == values.get(0).rank());
        if (sameRank && values.get(0).rank() > 2 && values.stream().anyMatch(v -> v.channelsFirst)) {
            return values.stream().map(this::channelsFirst).toList();
        }
        if (sameRank && values.get(0).rank() == 2 && values.get(0).featureOrder != null
                && values.stream().allMatch(v -> Arrays.equals(v.featureOrder, values.get(0).featureOrder))) {
            return values;
        }
        return values.stream().map(this::frameworkLayout).toList();
    }

    private static Value sameLayout(Value x, String name) {
        return new Value(name, x.type, x.shape, x.channelsFirst, x.featureOrder, x.flattenedFrom, null);
    }

    /** Where framework axis {@code axis} lies in {@code v}'s data. */
    private static int physicalAxis(Value v, int axis) {
        if (!v.channelsFirst || axis == 0) {
            return axis;
        }
        return axis == v.rank() - 1 ? 1 : axis + 1;
    }

    private static int[] layoutPermutation(int rank, boolean toChannelsFirst) {
        int[] perm = new int[rank];
        for (int i = 0; i < rank; i++) {
            perm[i] = toChannelsFirst ? (i == 0 ? 0 : i == 1 ? rank - 1 : i - 1)
                    : (i == 0 ? 0 : i == rank - 1 ? 1 : i + 1);
        }
        return perm;
    }

    private static long[] channelsFirstShape(long[] shape) {
        int[] perm = layoutPermutation(shape.length, true);
        long[] out = new long[shape.length];
        for (int i = 0; i < shape.length; i++) {
            out[i] = shape[perm[i]];
        }
        return out;
    }

    /** A constant broadcast against a channels-first value of {@code rank}: padded to the rank, then transposed. */
    private static Tensor toChannelsFirst(Tensor c, int rank) {
        if (c.elementCount() == 1) {
            return c;
        }
        long[] padded = new long[rank];
        long[] shape = c.shape();
        Arrays.fill(padded, 1);
        System.arraycopy(shape, 0, padded, rank - shape.length, shape.length);
        return TensorLayouts.transpose(c.reshape(padded), layoutPermutation(rank, true));
    }

    private static Weight permuteRows(Weight kernel, int[] order) {
        Weight.Quantization q = kernel.quantization();
        Tensor rows = TensorLayouts.takeRows(kernel.data(), order);
        if (q != null && q.perAxis() && q.axis() == 0) {
            q = new Weight.Quantization(TensorLayouts.takeRows(q.scale(), order),
                    TensorLayouts.takeRows(q.zeroPoint(), order), 0);
        }
        return new Weight(rows, q);
    }

    private static float[] reorder(float[] values, int[] order) {
        if (order == null) {
            return values;
        }
        float[] out = new float[values.length];
        for (int j = 0; j < order.length; j++) {
            out[j] = values[order[j]];
        }
        return out;
    }

    // ---------------------------------------------------------------- helpers

    /** Output shape of a convolution or pool, adding its padding attributes to {@code attrs}. */
    private static long[] windowed(Value x, int[] kernel, int[] strides, int[] dilations, Padding padding,
                                   long outChannels, List<AttributeProto> attrs) {
        long[] pads = new long[4];
        long[] out = {x.dim(0), -1, -1, outChannels};
        boolean known = x.dim(1) >= 0 && x.dim(2) >= 0;
        for (int i = 0; i < 2; i++) {
            long in = x.dim(1 + i);
            long span = (long) (kernel[i] - 1) * dilations[i] + 1;
            if (!known) {
                continue;
            }
            if (padding == Padding.SAME) {
                out[1 + i] = (in + strides[i] - 1) / strides[i];
                long total = Math.max((out[1 + i] - 1) * strides[i] + span - in, 0);
                pads[i] = total / 2;
                pads[2 + i] = total - total / 2;
            } else {
                if (in < span) {
                    throw new InvalidInputException("window of " + span + " pixels is larger than the input's "
                            + in + " with valid padding");
                }
                out[1 + i] = (in - span) / strides[i] + 1;
            }
        }
        if (known) {
            attrs.add(attr("pads", pads));
        } else if (padding == Padding.SAME) {
            attrs.add(attr("auto_pad", "SAME_UPPER")); // TensorFlow's SAME puts the odd pixel last too
        }
        return out;
    }

    private String dequantizeLinear(String data, Weight.Quantization q, String hint) {
        List<String> args = List.of(data, constant(scalarIfSingle(q.scale()), hint + "_scale"),
                constant(scalarIfSingle(q.zeroPoint()), hint + "_zero_point"));
        return q.perAxis() ? emit("DequantizeLinear", args, hint, attr("axis", (long) q.axis()))
                : emit("DequantizeLinear", args, hint);
    }

    private String quantizeLinear(String data, Weight.Quantization q, DataType type, String hint) {
        if (q.perAxis()) {
            throw new InvalidInputException("activations quantized per axis are not supported");
        }
        Tensor zeroPoint = Tensor.fromDoubles(type, new long[0], scalarIfSingle(q.zeroPoint()).toDoubleArray());
        return emit("QuantizeLinear", List.of(data, constant(scalarIfSingle(q.scale()), hint + "_scale"),
                constant(zeroPoint, hint + "_zero_point")), hint);
    }

    private static Tensor scalarIfSingle(Tensor t) {
        return t.elementCount() == 1 && t.rank() > 0 ? t.reshape() : t;
    }

    private String emit(String opType, List<String> inputs, String hint, AttributeProto... attributes) {
        return emit(opType, inputs, hint, List.of(attributes));
    }

    private String emit(String opType, List<String> inputs, String hint, List<AttributeProto> attributes) {
        String out = fresh(hint);
        NodeProto.Builder node = NodeProto.newBuilder().setOpType(opType).setName(out + "_" + opType)
                .addAllInput(inputs).addOutput(out);
        attributes.forEach(node::addAttribute);
        nodes.add(node.build());
        return out;
    }

    private String fresh(String hint) {
        String base = hint.isEmpty() ? "value" : hint;
        String candidate = base;
        for (int i = 1; names.contains(candidate) || reserved.contains(candidate); i++) {
            candidate = base + "_" + i;
        }
        names.add(candidate);
        return candidate;
    }

    private static void requireRank(Value x, int rank, String what) {
        if (x.rank() != rank) {
            throw new InvalidInputException(what + " needs a " + rank + "-D input, gets " + x);
        }
    }

    private static int[] normalizeAxes(int[] axes, int rank) {
        int[] out = new int[axes.length];
        for (int i = 0; i < axes.length; i++) {
            int a = axes[i] < 0 ? axes[i] + rank : axes[i];
            if (a < 0 || a >= rank) {
                throw new InvalidInputException("axis " + axes[i] + " is out of range for a " + rank + "-D tensor");
            }
            out[i] = a;
        }
        Arrays.sort(out);
        return out;
    }

    /** The shape two shapes broadcast to, as NumPy (and ONNX) broadcast them; -1 for unknown dimensions. */
    public static long[] broadcast(long[] a, long[] b) {
        int rank = Math.max(a.length, b.length);
        long[] out = new long[rank];
        for (int i = 0; i < rank; i++) {
            long da = i < rank - a.length ? 1 : a[i - (rank - a.length)];
            long db = i < rank - b.length ? 1 : b[i - (rank - b.length)];
            if (da >= 0 && db >= 0 && da != db && da != 1 && db != 1) {
                throw new InvalidInputException("shapes " + shapeText(a) + " and " + shapeText(b) + " do not broadcast");
            }
            out[i] = da == 1 ? db : db == 1 ? da : (da < 0 ? db : da);
        }
        return out;
    }

    /** Product of {@code shape[from..to)}, -1 when any of those dimensions is unknown. */
    private static long product(long[] shape, int from, int to) {
        long p = 1;
        for (int i = from; i < to; i++) {
            if (shape[i] < 0) {
                return -1;
            }
            p *= shape[i];
        }
        return p;
    }

    private static long[] longs(int[] values) {
        return Arrays.stream(values).asLongStream().toArray();
    }

    static String shapeText(long[] shape) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < shape.length; i++) {
            sb.append(i == 0 ? "" : ",").append(shape[i] < 0 ? "?" : Long.toString(shape[i]));
        }
        return sb.append(']').toString();
    }
}
