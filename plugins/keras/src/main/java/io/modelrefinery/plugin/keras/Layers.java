package io.modelrefinery.plugin.keras;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.plugin.convert.ChannelsLastGraph;
import io.modelrefinery.plugin.convert.ChannelsLastGraph.Padding;
import io.modelrefinery.plugin.convert.ChannelsLastGraph.Value;
import io.modelrefinery.plugin.convert.TensorLayouts;
import io.modelrefinery.plugin.convert.Weight;
import io.modelrefinery.plugin.keras.KerasConverter.Call;
import io.modelrefinery.plugin.keras.KerasConverter.Layer;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;

/**
 * Converts one call of a Keras layer (Keras 2.2+ configuration names; {@link LegacyConfig} brings older
 * ones there) into graph operations. Anything it does not know is refused with the layer's class.
 */
final class Layers {
    /** Layers that hold Python code. */
    static final Set<String> LAMBDAS = Set.of("Lambda", "TFOpLambda", "SlicingOpLambda");

    /** Layers that only act in training: the identity at inference. */
    private static final Set<String> TRAINING_ONLY = Set.of("Dropout", "SpatialDropout1D", "SpatialDropout2D",
            "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
            "Identity");

    private final ChannelsLastGraph graph;
    private final KerasConverter model;
    private final Activations activations;
    private final Spatial spatial;
    private final Recurrent recurrent;
    private final Attention attention;
    private final String kerasVersion;
    private final int kerasMajor;

    Layers(ChannelsLastGraph graph, KerasConverter model, int kerasMajor, String kerasVersion) {
        this.graph = graph;
        this.model = model;
        this.activations = new Activations(graph, kerasMajor);
        this.spatial = new Spatial(graph);
        this.recurrent = new Recurrent(graph, activations);
        this.attention = new Attention(graph);
        this.kerasMajor = kerasMajor;
        this.kerasVersion = kerasVersion;
    }

    List<Value> convert(Call call) {
        Layer layer = call.layer();
        String className = layer.className();
        if (className.equals("Bidirectional") || RECURRENT.contains(className)) {
            return recurrentLayer(call);
        }
        if (className.equals("MultiHeadAttention")) {
            return List.of(multiHeadAttention(call));
        }
        return List.of(single(call));
    }

    private Value single(Call call) {
        Layer layer = call.layer();
        Config c = layer.config();
        List<Value> in = call.inputs();
        Value x = call.input();
        String name = layer.name();
        String className = layer.className();
        if (TRAINING_ONLY.contains(className)) {
            return x;
        }
        if (LAMBDAS.contains(className)) {
            throw new InvalidInputException("Lambda layers hold Python code, which is refused and never run; rebuild "
                    + "the model with built-in layers");
        }
        if (c.raw("layers") instanceof List<?>) {
            throw new InvalidInputException("a Keras 1 Merge of whole models is not supported");
        }
        switch (className) {
            case "Conv2D", "Convolution2D" -> {
                boolean cf = Spatial.channelsFirst(c);
                List<Tensor> w = model.weights(layer, c.bool("use_bias", true) ? 2 : 1);
                Weight kernel = Weight.of(TensorLayouts.transpose(w.get(0), 3, 2, 0, 1));
                Value y = graph.conv(view(x, cf), kernel, bias(w, 1), ints(c, "strides", 2), ints(c, "dilation_rate", 2),
                        padding(c), c.integer("groups", 1), name);
                return unview(activations.apply(y, c.raw("activation"), name), cf);
            }
            case "DepthwiseConv2D" -> {
                boolean cf = Spatial.channelsFirst(c);
                List<Tensor> w = model.weights(layer, c.bool("use_bias", true) ? 2 : 1);
                Value y = graph.conv(view(x, cf), depthwiseKernel(w.get(0)), bias(w, 1), ints(c, "strides", 2),
                        ints(c, "dilation_rate", 2), padding(c), (int) w.get(0).dim(2), name);
                return unview(activations.apply(y, c.raw("activation"), name), cf);
            }
            case "SeparableConv2D", "SeparableConvolution2D" -> {
                boolean cf = Spatial.channelsFirst(c);
                List<Tensor> w = model.weights(layer, c.bool("use_bias", true) ? 3 : 2);
                Value depthwise = graph.conv(view(x, cf), depthwiseKernel(w.get(0)), null, ints(c, "strides", 2),
                        ints(c, "dilation_rate", 2), padding(c), (int) w.get(0).dim(2), name + "_depthwise");
                Weight pointwise = Weight.of(TensorLayouts.transpose(w.get(1), 3, 2, 0, 1));
                Value y = graph.conv(depthwise, pointwise, bias(w, 2), new int[] {1, 1}, new int[] {1, 1},
                        Padding.VALID, 1, name);
                return unview(activations.apply(y, c.raw("activation"), name), cf);
            }
            case "Conv1D", "Conv3D" -> {
                int spatialAxes = className.equals("Conv1D") ? 1 : 3;
                boolean cf = Spatial.channelsFirst(c);
                List<Tensor> w = model.weights(layer, c.bool("use_bias", true) ? 2 : 1);
                int[] perm = spatialAxes == 1 ? new int[] {2, 1, 0} : new int[] {4, 3, 0, 1, 2};
                Tensor kernel = TensorLayouts.transpose(w.get(0), perm);
                Value y = spatial.conv(x, cf, kernel, w.size() > 1 ? w.get(1) : null, ints(c, "strides", spatialAxes),
                        ints(c, "dilation_rate", spatialAxes), Spatial.Padding.of(c, spatialAxes == 1),
                        c.integer("groups", 1), name);
                return activations.apply(y, c.raw("activation"), name);
            }
            case "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D", "MaxPooling1D", "MaxPool1D",
                 "AveragePooling1D", "AvgPool1D", "MaxPooling3D", "MaxPool3D", "AveragePooling3D", "AvgPool3D" -> {
                int axes = className.endsWith("1D") ? 1 : className.endsWith("2D") ? 2 : 3;
                boolean cf = Spatial.channelsFirst(c);
                int[] pool = c.ints("pool_size", axes);
                int[] strides = c.has("strides") ? c.ints("strides", axes) : pool;
                String op = className.startsWith("Max") ? "MaxPool" : "AveragePool";
                if (axes == 2 && !cf) {
                    return graph.pool(op, x, pool, strides, padding(c), name);
                }
                return spatial.pool(op, x, cf, pool, strides, Spatial.Padding.of(c, false), name);
            }
            case "GlobalAveragePooling1D", "GlobalAvgPool1D", "GlobalAveragePooling2D", "GlobalAvgPool2D",
                 "GlobalAveragePooling3D", "GlobalAvgPool3D", "GlobalMaxPooling1D", "GlobalMaxPool1D",
                 "GlobalMaxPooling2D", "GlobalMaxPool2D", "GlobalMaxPooling3D", "GlobalMaxPool3D" -> {
                if (className.endsWith("1D")) {
                    model.requireNoMask(call); // Keras averages over the unmasked steps only
                }
                boolean cf = Spatial.channelsFirst(c);
                boolean keepDims = c.bool("keepdims", false);
                boolean average = className.startsWith("GlobalAv");
                if (average && className.endsWith("2D") && !cf) {
                    return graph.globalAveragePool(x, keepDims, name);
                }
                return spatial.globalPool(average ? "GlobalAveragePool" : "GlobalMaxPool", x, cf, keepDims, name);
            }
            case "Dense" -> {
                List<Tensor> w = model.weights(layer, c.bool("use_bias", true) ? 2 : 1);
                return activations.apply(graph.dense(x, Weight.of(w.get(0)), bias(w, 1), name), c.raw("activation"),
                        name);
            }
            case "Flatten" -> {
                // Flatten(data_format=channels_first) flattens in channels-last order, so that a model keeps its
                // dense weights when its data format changes.
                boolean cf = x.rank() > 2 && Spatial.channelsFirst(c);
                return graph.flatten(cf ? graph.channelsFirstView(x) : x, name);
            }
            case "Reshape" -> {
                long[] target = c.shape("target_shape");
                long[] full = new long[target.length + 1];
                System.arraycopy(target, 0, full, 1, target.length); // 0: keep the batch dimension
                return graph.reshape(x, full, name);
            }
            case "Permute" -> {
                int[] dims = c.ints("dims", x.rank() - 1);
                long[] perm = new long[x.rank()];
                long[] shape = new long[x.rank()];
                shape[0] = x.dim(0);
                for (int i = 0; i < dims.length; i++) {
                    if (dims[i] < 1 || dims[i] >= x.rank()) {
                        throw new InvalidInputException("dims " + c.raw("dims") + " do not permute the axes of " + x);
                    }
                    perm[i + 1] = dims[i];
                    shape[i + 1] = x.dim(dims[i]);
                }
                return op("Transpose", List.of(graph.frameworkData(x)), x.type(), shape, name, attr("perm", perm));
            }
            case "RepeatVector" -> {
                if (x.rank() != 2) {
                    throw new InvalidInputException("RepeatVector needs a 2-D input, gets " + x);
                }
                int n = c.integer("n", 1);
                Value expanded = op("Unsqueeze", List.of(graph.frameworkData(x), longs(name + "_axes", 1)), x.type(),
                        new long[] {x.dim(0), 1, x.dim(1)}, name + "_expanded");
                return op("Tile", List.of(graph.frameworkData(expanded), longs(name + "_repeats", 1, n, 1)), x.type(),
                        new long[] {x.dim(0), n, x.dim(1)}, name);
            }
            case "BatchNormalization" -> {
                return batchNormalization(layer, x);
            }
            case "LayerNormalization" -> {
                return layerNormalization(layer, x);
            }
            case "Activation" -> {
                return activations.apply(x, c.raw("activation"), name);
            }
            case "ReLU" -> {
                return relu(c, x, name);
            }
            case "LeakyReLU" -> {
                double slope = c.number("negative_slope", c.number("alpha", 0.3));
                return graph.unary("LeakyRelu", x, name, attr("alpha", (float) slope));
            }
            case "ELU" -> {
                return graph.unary("Elu", x, name, attr("alpha", (float) c.number("alpha", 1.0)));
            }
            case "ThresholdedReLU" -> {
                return graph.unary("ThresholdedRelu", x, name, attr("alpha", (float) c.number("theta", 1.0)));
            }
            case "PReLU" -> {
                Tensor alpha = model.weights(layer, 1).get(0);
                return graph.binary("PRelu", x, Weight.of(alpha), false, name);
            }
            case "Softmax" -> {
                return graph.softmax(x, c.has("axis") ? axis(c.raw("axis")) : -1, name);
            }
            case "Add" -> {
                return graph.fold("Add", in, name);
            }
            case "Multiply" -> {
                return graph.fold("Mul", in, name);
            }
            case "Maximum" -> {
                return graph.fold("Max", in, name);
            }
            case "Minimum" -> {
                return graph.fold("Min", in, name);
            }
            case "Average" -> {
                Value sum = graph.fold("Add", in, name + "_sum");
                return graph.binary("Mul", sum, Weight.of(Tensor.scalar(1f / in.size())), false, name);
            }
            case "Subtract" -> {
                if (in.size() != 2) {
                    throw new InvalidInputException("Subtract needs 2 inputs, has " + in.size());
                }
                return graph.binary("Sub", in.get(0), in.get(1), name);
            }
            case "Concatenate" -> {
                return graph.concat(in, c.integer("axis", -1), name);
            }
            case "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D" -> {
                int axes = className.endsWith("1D") ? 1 : className.endsWith("2D") ? 2 : 3;
                boolean cf = axes > 1 && Spatial.channelsFirst(c);
                int[][] p = pairs(c.raw("padding"), axes, "padding");
                if (axes == 2 && !cf) {
                    return graph.pad(x, new long[][] {{0, 0}, {p[0][0], p[0][1]}, {p[1][0], p[1][1]}, {0, 0}}, 0f, name);
                }
                return spatial.pad(x, cf, p, name);
            }
            case "Cropping1D", "Cropping2D", "Cropping3D" -> {
                int axes = className.endsWith("1D") ? 1 : className.endsWith("2D") ? 2 : 3;
                boolean cf = axes > 1 && Spatial.channelsFirst(c);
                return spatial.crop(x, cf, pairs(c.raw("cropping"), axes, "cropping"), name);
            }
            case "UpSampling1D", "UpSampling2D", "UpSampling3D" -> {
                int axes = className.endsWith("1D") ? 1 : className.endsWith("2D") ? 2 : 3;
                boolean cf = axes > 1 && Spatial.channelsFirst(c);
                String interpolation = c.string("interpolation", "nearest");
                return switch (interpolation) {
                    case "nearest" -> spatial.resize(x, cf, c.ints("size", axes), "nearest", "asymmetric", name);
                    case "bilinear" -> spatial.resize(x, cf, c.ints("size", axes), "linear", bilinearCoordinates(),
                            name);
                    default -> throw new InvalidInputException("interpolation '" + interpolation + "' is not supported");
                };
            }
            case "Embedding" -> {
                return embedding(layer, x);
            }
            case "Masking" -> {
                return masking(c, x, name);
            }
            case "TimeDistributed" -> {
                return timeDistributed(call);
            }
            case "InputLayer" -> throw new InvalidInputException("an InputLayer inside the model is not supported");
            default -> throw new InvalidInputException("unsupported layer class " + className);
        }
    }

    // ---------------------------------------------------------------- layers with more to them

    private Value batchNormalization(Layer layer, Value x) {
        Config c = layer.config();
        if (c.integer("mode", 0) != 0) {
            throw new InvalidInputException("Keras 1 batch normalization mode " + c.integer("mode", 0) + " (statistics "
                    + "of each batch or sample) is not supported, only mode 0");
        }
        int axis = c.has("axis") ? axis(c.raw("axis")) : -1;
        int normalized = axis < 0 ? axis + x.rank() : axis;
        boolean cf = normalized == 1 && x.rank() > 2;
        if (normalized != x.rank() - 1 && !cf) {
            throw new InvalidInputException("batch normalization over axis " + axis + " of " + x + " is not supported, "
                    + "only the channel axis");
        }
        boolean scale = c.bool("scale", true);
        boolean center = c.bool("center", true);
        List<Tensor> w = model.weights(layer, 2 + (scale ? 1 : 0) + (center ? 1 : 0));
        int i = 0;
        int channels = Math.toIntExact(w.get(w.size() - 1).elementCount());
        float[] gamma = scale ? w.get(i++).toFloatArray() : filled(channels, 1f);
        float[] beta = center ? w.get(i++).toFloatArray() : filled(channels, 0f);
        Value y = graph.batchNormalization(view(x, cf), gamma, beta, w.get(i).toFloatArray(),
                w.get(i + 1).toFloatArray(), (float) c.number("epsilon", 1e-3), layer.name());
        return unview(y, cf);
    }

    /** Normalization over trailing axes, which ONNX's LayerNormalization (opset 17) computes as Keras does. */
    private Value layerNormalization(Layer layer, Value x) {
        Config c = layer.config();
        if (c.bool("rms_scaling", false)) {
            throw new InvalidInputException("rms_scaling is not supported");
        }
        List<Integer> axes = new ArrayList<>();
        Object raw = c.raw("axis");
        for (Object a : raw instanceof List<?> list ? list : List.of(raw == null ? -1L : raw)) {
            if (!(a instanceof Long l)) {
                throw new InvalidInputException("axis " + raw + " is malformed");
            }
            axes.add((int) (l < 0 ? l + x.rank() : l));
        }
        axes.sort(null);
        int first = axes.get(0);
        for (int i = 0; i < axes.size(); i++) {
            if (axes.get(i) != first + i || axes.get(axes.size() - 1) != x.rank() - 1) {
                throw new InvalidInputException("normalization over axes " + raw + " of " + x + " is not supported, "
                        + "only over the last axes");
            }
        }
        boolean scale = c.bool("scale", true);
        boolean center = c.bool("center", true);
        List<Tensor> w = model.weights(layer, (scale ? 1 : 0) + (center ? 1 : 0));
        long[] paramShape = new long[axes.size()];
        long count = 1;
        for (int i = 0; i < axes.size(); i++) {
            paramShape[i] = x.dim(axes.get(i));
            count *= paramShape[i];
        }
        if (count < 0) {
            count = w.isEmpty() ? -1 : w.get(0).elementCount();
            if (count < 0) {
                throw new InvalidInputException("normalized axes of unknown size without weights are not supported");
            }
            paramShape = w.get(0).shape();
        }
        int i = 0;
        Tensor gamma = scale ? w.get(i++).reshape(paramShape) : Tensor.ofFloats(paramShape, filled((int) count, 1f));
        Tensor beta = center ? w.get(i).reshape(paramShape) : Tensor.ofFloats(paramShape, filled((int) count, 0f));
        String hint = layer.name();
        return op("LayerNormalization", List.of(graph.frameworkData(x), graph.constant(gamma, hint + "_gamma"),
                graph.constant(beta, hint + "_beta")), x.type(), x.shape(), hint, attr("axis", (long) first),
                attr("epsilon", (float) c.number("epsilon", 1e-3)));
    }

    private Value relu(Config c, Value x, String name) {
        if (c.number("threshold", 0) != 0) {
            throw new InvalidInputException("ReLU with a threshold is not supported");
        }
        double slope = c.number("negative_slope", 0);
        boolean capped = c.has("max_value");
        if (slope != 0) {
            if (capped) {
                throw new InvalidInputException("ReLU with both a negative slope and a maximum is not supported");
            }
            return graph.unary("LeakyRelu", x, name, attr("alpha", (float) slope));
        }
        return capped ? graph.clip(x, 0f, (float) c.number("max_value", 0), name) : graph.unary("Relu", x, name);
    }

    /**
     * Embedding: a Gather of the table's rows. Keras casts float indices to int32 (truncating, as ONNX's
     * Cast does). With {@code mask_zero} the layer also makes a mask, which the converter follows.
     */
    private Value embedding(Layer layer, Value x) {
        Tensor table = model.weights(layer, 1).get(0);
        if (table.rank() != 2) {
            throw new InvalidInputException("embedding table " + table + " is not 2-D");
        }
        String indices = graph.frameworkData(x);
        if (x.type() == DataType.FLOAT) {
            indices = graph.frameworkData(op("Cast", List.of(indices), DataType.INT64, x.shape(),
                    layer.name() + "_indices", attr("to", (long) DataType.INT64.code())));
        }
        long[] shape = java.util.Arrays.copyOf(x.shape(), x.rank() + 1);
        shape[x.rank()] = table.dim(1);
        return op("Gather", List.of(graph.constant(table, layer.name() + "_embeddings"), indices), DataType.FLOAT, shape,
                layer.name(), attr("axis", 0L));
    }

    /** Keras's Masking: time steps whose features all equal {@code mask_value} become zeros (and masked). */
    private Value masking(Config c, Value x, String name) {
        float maskValue = (float) c.number("mask_value", 0.0);
        String data = graph.frameworkData(x);
        long[] reduced = x.shape();
        reduced[reduced.length - 1] = 1;
        Value equal = op("Equal", List.of(data, graph.constant(Tensor.scalar(maskValue), name + "_mask_value")),
                DataType.BOOL, x.shape(), name + "_equal");
        Value kept = op("Not", List.of(graph.frameworkData(equal)), DataType.BOOL, x.shape(), name + "_not_equal");
        Value asFloat = op("Cast", List.of(graph.frameworkData(kept)), DataType.FLOAT, x.shape(), name + "_kept",
                attr("to", (long) DataType.FLOAT.code()));
        Value any = op("ReduceMax", List.of(graph.frameworkData(asFloat)), DataType.FLOAT, reduced, name + "_any",
                attr("axes", new long[] {-1}), attr("keepdims", 1L));
        return op("Mul", List.of(data, graph.frameworkData(any)), x.type(), x.shape(), name);
    }

    /** TimeDistributed of a layer that acts on the last axis alone (Dense, activations, dropout). */
    private Value timeDistributed(Call call) {
        Layer layer = call.layer();
        Config inner = layer.config().object("layer");
        String className = inner.string("class_name");
        KerasConverter.refuseCustom(inner, "wrapped " + className + " class");
        Config innerConfig = inner.object("config");
        Layer wrapped = new Layer(layer.name(), className, inner, innerConfig, layer.where(), layer.scope(),
                layer.archivePath());
        Value x = call.input();
        if (TRAINING_ONLY.contains(className)) {
            return x;
        }
        return switch (className) {
            case "Dense" -> {
                List<Tensor> w = model.weights(wrapped, innerConfig.bool("use_bias", true) ? 2 : 1, "layer", "");
                yield activations.apply(graph.dense(x, Weight.of(w.get(0)), bias(w, 1), layer.name()),
                        innerConfig.raw("activation"), layer.name());
            }
            case "Activation" -> activations.apply(x, innerConfig.raw("activation"), layer.name());
            default -> throw new InvalidInputException("TimeDistributed(" + className + ") is not supported, only "
                    + "TimeDistributed(Dense)");
        };
    }

    private static final Set<String> RECURRENT = Set.of("SimpleRNN", "LSTM", "GRU");

    private List<Value> recurrentLayer(Call call) {
        model.requireNoMask(call);
        Layer layer = call.layer();
        for (String state : List.of("initial_state", "constants")) {
            if (call.kwargs().get(state) instanceof Value) {
                throw new InvalidInputException("a given " + state + " is not supported");
            }
        }
        if (call.inputs().size() != 1) {
            throw new InvalidInputException("initial states given as inputs are not supported");
        }
        Value x = call.input();
        if (!layer.className().equals("Bidirectional")) {
            List<Tensor> w = model.weights(layer, "cell", "");
            Recurrent.Direction d = recurrent.direction(layer.className(), layer.config(), w, x.rank() == 3 ? x.dim(2) : -1);
            return recurrent.apply(x, d, null, null, layer.name());
        }
        Config c = layer.config();
        Config inner = c.object("layer");
        String className = inner.string("class_name");
        KerasConverter.refuseCustom(inner, "wrapped " + className + " class");
        Config forwardConfig = inner.object("config");
        Config backwardConfig = forwardConfig;
        if (c.has("backward_layer")) {
            Config backward = c.object("backward_layer");
            KerasConverter.refuseCustom(backward, "backward " + backward.string("class_name") + " class");
            if (!backward.string("class_name").equals(className)) {
                throw new InvalidInputException("a backward layer of another class than the forward one is not supported");
            }
            backwardConfig = backward.object("config");
        }
        Layer forwardLayer = new Layer(layer.name(), className, inner, forwardConfig, layer.where(), layer.scope(),
                layer.archivePath());
        Layer backwardLayer = new Layer(layer.name(), className, inner, backwardConfig, layer.where(), layer.scope(),
                layer.archivePath());
        List<Tensor> fw;
        List<Tensor> bw;
        if (layer.archivePath() != null && model.isArchive()) {
            fw = model.weights(forwardLayer, "forward_layer/cell", "forward_layer");
            bw = model.weights(backwardLayer, "backward_layer/cell", "backward_layer");
        } else { // HDF5: the forward layer's weights, then the backward layer's, in one list
            List<Tensor> all = model.weights(layer);
            if (all.size() % 2 != 0) {
                throw new InvalidInputException("expected the same number of weights for both directions, the file has "
                        + all.size());
            }
            fw = model.legacyWeights(forwardLayer, all.subList(0, all.size() / 2));
            bw = model.legacyWeights(backwardLayer, all.subList(all.size() / 2, all.size()));
        }
        long features = x.rank() == 3 ? x.dim(2) : -1;
        Recurrent.Direction forward = recurrent.direction(className, forwardConfig, fw, features);
        Recurrent.Direction backward = recurrent.direction(className, backwardConfig, bw, features);
        Object mode = c.map().containsKey("merge_mode") ? c.raw("merge_mode") : "concat";
        if (mode != null && !(mode instanceof String)) {
            throw new InvalidInputException("merge_mode " + Json.describe(mode) + " is not supported");
        }
        return recurrent.apply(x, forward, backward, (String) mode, layer.name());
    }

    private Value multiHeadAttention(Call call) {
        model.requireNoMask(call);
        Layer layer = call.layer();
        Map<String, Object> kwargs = call.kwargs();
        List<Value> in = call.inputs();
        Value query = in.get(0);
        Value value = in.size() > 1 ? in.get(1) : kwargs.get("value") instanceof Value v ? v : null;
        Value key = in.size() > 2 ? in.get(2) : kwargs.get("key") instanceof Value k ? k : value;
        if (value == null) {
            throw new InvalidInputException("no value tensor is given");
        }
        if (kwargs.get("attention_mask") instanceof Value) {
            throw new InvalidInputException("an attention_mask input is not supported");
        }
        if (Boolean.TRUE.equals(kwargs.get("return_attention_scores"))) {
            throw new InvalidInputException("return_attention_scores=True is not supported");
        }
        boolean causal = Boolean.TRUE.equals(kwargs.get("use_causal_mask"));
        List<Tensor> w;
        if (model.isArchive()) {
            w = new ArrayList<>();
            for (String part : List.of("query_dense", "key_dense", "value_dense", "output_dense")) {
                w.addAll(model.weights(layer, part, "_" + part));
            }
        } else {
            w = model.weights(layer);
        }
        return attention.apply(layer.config(), query, key, value, causal, w, layer.name());
    }

    // ---------------------------------------------------------------- helpers

    /** A channels-first Keras tensor as the graph's channels-last tensor held channels first. */
    private Value view(Value x, boolean channelsFirst) {
        return channelsFirst ? graph.channelsFirstView(x) : x;
    }

    private Value unview(Value y, boolean channelsFirst) {
        return channelsFirst ? graph.channelsFirstData(y) : y;
    }

    /**
     * Bilinear upsampling: TensorFlow 1's resize (Keras up to 2.3) maps output pixel {@code i} to input
     * {@code i / f}; TensorFlow 2's (tf.keras, Keras 3) to pixel centres, {@code (i + 0.5) / f - 0.5}.
     */
    private String bilinearCoordinates() {
        boolean tf2 = kerasMajor >= 3 || kerasVersion == null || kerasVersion.contains("tf")
                || kerasVersion.matches("2\\.([4-9]|\\d\\d).*");
        return tf2 ? "half_pixel" : "asymmetric";
    }

    private Value op(String type, List<String> inputs, DataType dataType, long[] shape, String hint,
                     io.modelrefinery.api.onnx.proto.Onnx.AttributeProto... attrs) {
        return graph.operator(type, inputs, dataType, List.of(shape), hint, attrs).get(0);
    }

    private String longs(String hint, long... values) {
        return graph.constant(Tensor.ofLongs(new long[] {values.length}, values), hint);
    }

    /** A stride or dilation: Keras 1 files leave out the default of 1. */
    private static int[] ints(Config c, String key, int count) {
        if (c.has(key)) {
            return c.ints(key, count);
        }
        int[] ones = new int[count];
        java.util.Arrays.fill(ones, 1);
        return ones;
    }

    private static Weight bias(List<Tensor> w, int index) {
        return w.size() > index ? Weight.of(w.get(index)) : null;
    }

    /** Keras's depthwise kernel {@code [kh, kw, in, multiplier]} as ONNX's {@code [in * multiplier, 1, kh, kw]}. */
    private static Weight depthwiseKernel(Tensor kernel) {
        Tensor t = TensorLayouts.transpose(kernel, 2, 3, 0, 1);
        return Weight.of(t.reshape(kernel.dim(2) * kernel.dim(3), 1, kernel.dim(0), kernel.dim(1)));
    }

    private static Padding padding(Config c) {
        String padding = c.string("padding", "valid").toLowerCase(Locale.ROOT);
        return switch (padding) {
            case "valid" -> Padding.VALID;
            case "same" -> Padding.SAME;
            default -> throw new InvalidInputException("padding '" + padding + "' is not supported");
        };
    }

    /** An axis written as an integer or a one-element list (BatchNormalization in Keras 2). */
    private static int axis(Object axis) {
        if (axis instanceof Long) {
            return Math.toIntExact((Long) axis);
        }
        if (axis instanceof List<?> list && list.size() == 1 && list.get(0) instanceof Long) {
            return Math.toIntExact((Long) list.get(0));
        }
        throw new InvalidInputException("axis " + axis + " is not supported");
    }

    /**
     * Padding or cropping of {@code axes} spatial axes: {@code p}, {@code [p1, ...]} (each both sides) or
     * {@code [[before, after], ...]}; for one axis also {@code [before, after]}.
     */
    private static int[][] pairs(Object value, int axes, String what) {
        int[][] out = new int[axes][];
        if (value instanceof Long p) {
            for (int i = 0; i < axes; i++) {
                out[i] = new int[] {Math.toIntExact(p), Math.toIntExact(p)};
            }
            return out;
        }
        if (value instanceof List<?> list) {
            if (axes == 1 && list.size() == 2 && list.get(0) instanceof Long a && list.get(1) instanceof Long b) {
                return new int[][] {{Math.toIntExact(a), Math.toIntExact(b)}};
            }
            if (list.size() == axes) {
                for (int i = 0; i < axes; i++) {
                    Object axis = list.get(i);
                    if (axis instanceof Long v) {
                        out[i] = new int[] {Math.toIntExact(v), Math.toIntExact(v)};
                    } else if (axis instanceof List<?> pair && pair.size() == 2 && pair.get(0) instanceof Long a
                            && pair.get(1) instanceof Long b) {
                        out[i] = new int[] {Math.toIntExact(a), Math.toIntExact(b)};
                    } else {
                        throw new InvalidInputException(what + " " + value + " is malformed");
                    }
                }
                return out;
            }
        }
        throw new InvalidInputException(what + " " + value + " is malformed");
    }

    private static float[] filled(int n, float value) {
        float[] out = new float[n];
        java.util.Arrays.fill(out, value);
        return out;
    }
}
