package io.modelrefinery.plugin.keras;

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

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;

/**
 * Converts a Sequential or functional Keras model, layer by layer, into an ONNX graph whose inputs and
 * outputs keep Keras's shapes (channels last). Layers it does not know, Lambda layers and custom classes
 * are refused with the layer's name and position; nothing in the file is ever run.
 */
final class KerasConverter {
    /** Layers that only act in training: the identity at inference. */
    private static final Set<String> TRAINING_ONLY = Set.of("Dropout", "SpatialDropout2D", "GaussianNoise",
            "GaussianDropout", "AlphaDropout", "ActivityRegularization");

    private final KerasFile file;
    private final Cancellation cancellation;
    private final ChannelsLastGraph graph = new ChannelsLastGraph();
    private final Map<String, String> archivePaths = new HashMap<>();
    private int convertedLayers;

    private KerasConverter(KerasFile file, Cancellation cancellation) {
        this.file = file;
        this.cancellation = cancellation;
    }

    /** The converted model and what the conversion did. */
    record Result(OnnxModel model, int layers, int layoutChanges) {
    }

    static Result convert(KerasFile file, Cancellation cancellation) {
        return new KerasConverter(file, cancellation).run();
    }

    private Result run() {
        Config top = file.model();
        String className = top.string("class_name");
        refuseCustom(top, "model class '" + className + "'");
        Config config = top.object("config");
        List<Layer> layers = layers(config);
        String name = config.string("name", "model");
        switch (className) {
            case "Sequential" -> sequential(top, config, layers);
            case "Functional", "Model" -> functional(config, layers);
            default -> throw new InvalidInputException("model class '" + className + "' cannot be converted: only "
                    + "Sequential and functional models can (a subclassed model is Python code)");
        }
        return new Result(graph.build(name, "model-refinery keras-to-onnx"), convertedLayers, graph.layoutChanges());
    }

    /** One entry of the configuration's layer list. */
    private record Layer(String name, String className, Config entry, Config config, int position, int count) {
        String where() {
            return "layer '" + name + "' (" + className + ", layer " + position + " of " + count + ")";
        }
    }

    private List<Layer> layers(Config config) {
        List<Object> entries = config.list("layers");
        List<Layer> layers = new ArrayList<>();
        Map<String, Integer> used = new HashMap<>();
        for (int i = 0; i < entries.size(); i++) {
            Config entry = Config.of(entries.get(i), "layer " + (i + 1) + " of " + entries.size());
            String className = entry.string("class_name");
            Config layerConfig = entry.object("config");
            String name = entry.string("name", layerConfig.string("name", "layer_" + (i + 1)));
            layers.add(new Layer(name, className, entry, layerConfig, i + 1, entries.size()));
            // A Keras 3 archive stores the n-th layer of a class under its snake-case class name, _n from the second.
            String base = snakeCase(className);
            int n = used.merge(base, 1, Integer::sum) - 1;
            archivePaths.put(name, n == 0 ? base : base + "_" + n);
        }
        return layers;
    }

    /** Keras's {@code naming.to_snake_case}. */
    static String snakeCase(String name) {
        String s = name.replaceAll("\\W+", "");
        s = s.replaceAll("(.)([A-Z][a-z]+)", "$1_$2");
        return s.replaceAll("([a-z])([A-Z])", "$1_$2").toLowerCase(Locale.ROOT);
    }

    // ---------------------------------------------------------------- model structure

    private void sequential(Config top, Config config, List<Layer> layers) {
        if (layers.isEmpty()) {
            throw new InvalidInputException("the Sequential model has no layers");
        }
        Layer first = layers.get(0);
        boolean hasInputLayer = first.className().equals("InputLayer");
        long[] shape = inputShape(hasInputLayer ? first.where() : "the Sequential model", first.config(), config, top);
        String inputName = hasInputLayer ? first.name() : "input";
        Layer last = layers.get(layers.size() - 1);
        graph.reserve(last.name());
        Value x = graph.input(inputName, DataType.FLOAT, shape);
        for (Layer layer : layers.subList(hasInputLayer ? 1 : 0, layers.size())) {
            x = convertLayer(layer, List.of(x));
        }
        graph.output(x, last.name());
    }

    /** The input shape, from the first of {@code candidates} that records one. */
    private static long[] inputShape(String where, Config... candidates) {
        for (Config c : candidates) {
            for (String key : new String[] {"batch_shape", "batch_input_shape", "build_input_shape"}) {
                if (c.has(key)) {
                    return c.shape(key);
                }
            }
            if (c.has("build_config") && c.object("build_config").has("input_shape")) {
                return c.object("build_config").shape("input_shape");
            }
        }
        throw new InvalidInputException(where + " has no input shape: the model was never built");
    }

    private void functional(Config config, List<Layer> layers) {
        Map<String, Layer> byName = new LinkedHashMap<>();
        layers.forEach(l -> byName.put(l.name(), l));
        List<String> inputs = layerRefs(config.raw("input_layers"), "input_layers");
        List<String> outputs = layerRefs(config.raw("output_layers"), "output_layers");
        outputs.forEach(graph::reserve);
        Map<String, Value> values = new HashMap<>();
        for (String input : inputs) {
            Layer layer = byName.get(input);
            if (layer == null || !layer.className().equals("InputLayer")) {
                throw new InvalidInputException("model input '" + input + "' is not an InputLayer of the model");
            }
            values.put(input, graph.input(input, DataType.FLOAT, inputShape(layer.where(), layer.config())));
        }
        // Keras lists layers in a topological order; loop anyway in case a file does not.
        List<Layer> pending = new ArrayList<>(layers.stream().filter(l -> !values.containsKey(l.name())).toList());
        while (!pending.isEmpty()) {
            boolean progress = false;
            for (Layer layer : new ArrayList<>(pending)) {
                List<String> sources = inbound(layer);
                if (!sources.stream().allMatch(values::containsKey)) {
                    continue;
                }
                if (sources.isEmpty()) {
                    throw new InvalidInputException(layer.where() + " has no input (an unused input layer?)");
                }
                values.put(layer.name(), convertLayer(layer, sources.stream().map(values::get).toList()));
                pending.remove(layer);
                progress = true;
            }
            if (!progress) {
                Layer stuck = pending.get(0);
                throw new InvalidInputException(stuck.where() + " reads layers that are not in the model: "
                        + inbound(stuck));
            }
        }
        for (String output : outputs) {
            Value value = values.get(output);
            if (value == null) {
                throw new InvalidInputException("model output '" + output + "' is not a layer of the model");
            }
            graph.output(value, output);
        }
    }

    /** Layer names of {@code input_layers} or {@code output_layers}: {@code [[name, 0, 0], ...]} or one {@code [name, 0, 0]}. */
    private static List<String> layerRefs(Object refs, String field) {
        if (!(refs instanceof List) || ((List<?>) refs).isEmpty()) {
            throw new InvalidInputException("the functional model's '" + field + "' is missing");
        }
        List<?> list = (List<?>) refs;
        if (list.get(0) instanceof String) {
            return List.of((String) list.get(0));
        }
        List<String> names = new ArrayList<>();
        for (Object ref : list) {
            if (!(ref instanceof List) || ((List<?>) ref).isEmpty() || !(((List<?>) ref).get(0) instanceof String)) {
                throw new InvalidInputException("the functional model's '" + field + "' is malformed");
            }
            names.add((String) ((List<?>) ref).get(0));
        }
        return names;
    }

    /**
     * The layers a layer reads. Keras 2 writes {@code inbound_nodes} as {@code [[[name, node, tensor, {}], ...]]},
     * Keras 3 as {@code [{"args": [...], "kwargs": {...}}]} with the tensors somewhere inside the arguments.
     */
    private static List<String> inbound(Layer layer) {
        Object nodes = layer.entry().raw("inbound_nodes");
        if (!(nodes instanceof List) || ((List<?>) nodes).isEmpty()) {
            return List.of();
        }
        if (((List<?>) nodes).size() > 1) {
            throw new InvalidInputException(layer.where() + " is used " + ((List<?>) nodes).size()
                    + " times; shared layers are not supported");
        }
        Object node = ((List<?>) nodes).get(0);
        List<String> sources = new ArrayList<>();
        if (node instanceof Map) {
            collectKerasTensors(((Map<?, ?>) node).get("args"), sources, layer);
        } else if (node instanceof List) {
            for (Object ref : (List<?>) node) {
                sources.add(historyName(ref, layer));
            }
        }
        return sources;
    }

    private static void collectKerasTensors(Object json, List<String> sources, Layer layer) {
        if (json instanceof Map<?, ?> map) {
            if ("__keras_tensor__".equals(map.get("class_name")) && map.get("config") instanceof Map<?, ?> config) {
                sources.add(historyName(config.get("keras_history"), layer));
                return;
            }
            map.values().forEach(v -> collectKerasTensors(v, sources, layer));
        } else if (json instanceof List<?> list) {
            list.forEach(v -> collectKerasTensors(v, sources, layer));
        }
    }

    private static String historyName(Object ref, Layer layer) {
        if (ref instanceof List<?> list && list.size() >= 3 && list.get(0) instanceof String name) {
            if (!Long.valueOf(0).equals(list.get(2))) {
                throw new InvalidInputException(layer.where() + " reads output " + list.get(2) + " of layer '" + name
                        + "'; layers with several outputs are not supported");
            }
            return name;
        }
        throw new InvalidInputException(layer.where() + " has a malformed inbound node");
    }

    // ---------------------------------------------------------------- layers

    private Value convertLayer(Layer layer, List<Value> inputs) {
        cancellation.throwIfCancelled();
        try {
            refuseCustom(layer.entry(), layer.className() + " class");
            Value out = layer(layer, inputs);
            convertedLayers++;
            return out;
        } catch (InvalidInputException e) {
            throw new InvalidInputException(layer.where() + ": " + e.getMessage(), e);
        }
    }

    private Value layer(Layer layer, List<Value> in) {
        Config c = layer.config();
        Value x = in.get(0);
        String name = layer.name();
        String className = layer.className();
        if (TRAINING_ONLY.contains(className)) {
            return x;
        }
        switch (className) {
            case "Conv2D", "Convolution2D" -> {
                channelsLast(c);
                List<Tensor> w = weights(layer, c.bool("use_bias", true) ? 2 : 1);
                int groups = c.integer("groups", 1);
                Weight kernel = Weight.of(TensorLayouts.transpose(w.get(0), 3, 2, 0, 1));
                Value y = graph.conv(x, kernel, bias(w, 1), c.ints("strides", 2), c.ints("dilation_rate", 2),
                        padding(c), groups, name);
                return activation(y, c, name);
            }
            case "DepthwiseConv2D" -> {
                channelsLast(c);
                List<Tensor> w = weights(layer, c.bool("use_bias", true) ? 2 : 1);
                Value y = graph.conv(x, depthwiseKernel(w.get(0)), bias(w, 1), c.ints("strides", 2),
                        c.ints("dilation_rate", 2), padding(c), (int) w.get(0).dim(2), name);
                return activation(y, c, name);
            }
            case "SeparableConv2D", "SeparableConvolution2D" -> {
                channelsLast(c);
                List<Tensor> w = weights(layer, c.bool("use_bias", true) ? 3 : 2);
                Value depthwise = graph.conv(x, depthwiseKernel(w.get(0)), null, c.ints("strides", 2),
                        c.ints("dilation_rate", 2), padding(c), (int) w.get(0).dim(2), name + "_depthwise");
                Weight pointwise = Weight.of(TensorLayouts.transpose(w.get(1), 3, 2, 0, 1));
                Value y = graph.conv(depthwise, pointwise, bias(w, 2), new int[] {1, 1}, new int[] {1, 1},
                        Padding.VALID, 1, name);
                return activation(y, c, name);
            }
            case "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D" -> {
                channelsLast(c);
                int[] pool = c.ints("pool_size", 2);
                int[] strides = c.has("strides") ? c.ints("strides", 2) : pool;
                String op = className.startsWith("Max") ? "MaxPool" : "AveragePool";
                return graph.pool(op, x, pool, strides, padding(c), name);
            }
            case "GlobalAveragePooling2D", "GlobalAvgPool2D" -> {
                channelsLast(c);
                return graph.globalAveragePool(x, c.bool("keepdims", false), name);
            }
            case "Dense" -> {
                List<Tensor> w = weights(layer, c.bool("use_bias", true) ? 2 : 1);
                return activation(graph.dense(x, Weight.of(w.get(0)), bias(w, 1), name), c, name);
            }
            case "Flatten" -> {
                channelsLast(c);
                return graph.flatten(x, name);
            }
            case "Reshape" -> {
                long[] target = c.shape("target_shape");
                long[] full = new long[target.length + 1];
                System.arraycopy(target, 0, full, 1, target.length); // 0: keep the batch dimension
                return graph.reshape(x, full, name);
            }
            case "BatchNormalization" -> {
                return batchNormalization(layer, x);
            }
            case "Activation" -> {
                return activation(x, c, name);
            }
            case "ReLU" -> {
                return relu(c, x, name);
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
            case "Subtract" -> {
                if (in.size() != 2) {
                    throw new InvalidInputException("Subtract needs 2 inputs, has " + in.size());
                }
                return graph.binary("Sub", in.get(0), in.get(1), name);
            }
            case "Concatenate" -> {
                return graph.concat(in, c.integer("axis", -1), name);
            }
            case "ZeroPadding2D" -> {
                channelsLast(c);
                int[][] p = zeroPadding(c.raw("padding"));
                return graph.pad(x, new long[][] {{0, 0}, {p[0][0], p[0][1]}, {p[1][0], p[1][1]}, {0, 0}}, 0f, name);
            }
            case "InputLayer" -> throw new InvalidInputException("an InputLayer inside the model is not supported");
            case "Lambda", "TFOpLambda", "SlicingOpLambda" -> throw new InvalidInputException("Lambda layers hold "
                    + "Python code, which is refused and never run; rebuild the model with built-in layers");
            default -> throw new InvalidInputException("unsupported layer class " + className);
        }
    }

    private Value batchNormalization(Layer layer, Value x) {
        Config c = layer.config();
        int axis = c.has("axis") ? axis(c.raw("axis")) : -1;
        if (axis != -1 && axis != x.rank() - 1) {
            throw new InvalidInputException("batch normalization over axis " + axis + " is not supported, only the "
                    + "last (channel) axis");
        }
        boolean scale = c.bool("scale", true);
        boolean center = c.bool("center", true);
        List<Tensor> w = weights(layer, 2 + (scale ? 1 : 0) + (center ? 1 : 0));
        int i = 0;
        int channels = Math.toIntExact(w.get(w.size() - 1).elementCount());
        float[] gamma = scale ? w.get(i++).toFloatArray() : filled(channels, 1f);
        float[] beta = center ? w.get(i++).toFloatArray() : filled(channels, 0f);
        return graph.batchNormalization(x, gamma, beta, w.get(i).toFloatArray(), w.get(i + 1).toFloatArray(),
                (float) c.number("epsilon", 1e-3), layer.name());
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

    /** The layer's {@code activation}: a built-in's name; a custom function is a dictionary and is refused. */
    private Value activation(Value x, Config c, String name) {
        Object activation = c.raw("activation");
        if (activation == null) {
            return x;
        }
        if (!(activation instanceof String)) {
            throw new InvalidInputException("custom activation " + describe(activation)
                    + " is refused: it is Python code");
        }
        String hint = name + "_" + activation;
        return switch ((String) activation) {
            case "linear" -> x;
            case "relu" -> graph.unary("Relu", x, hint);
            case "relu6" -> graph.clip(x, 0f, 6f, hint);
            case "sigmoid" -> graph.unary("Sigmoid", x, hint);
            case "tanh" -> graph.unary("Tanh", x, hint);
            case "softmax" -> graph.softmax(x, -1, hint);
            case "swish", "silu" -> graph.swish(x, hint);
            case "hard_silu", "hard_swish" -> graph.unary("HardSwish", x, hint);
            case "elu" -> graph.unary("Elu", x, hint);
            case "softplus" -> graph.unary("Softplus", x, hint);
            default -> throw new InvalidInputException("unsupported activation '" + activation + "'");
        };
    }

    private List<Tensor> weights(Layer layer, int expected) {
        List<Tensor> w = file.weights(layer.name(), archivePaths.get(layer.name()));
        if (w.size() != expected) {
            throw new InvalidInputException("expected " + expected + " weights, the file has " + w.size());
        }
        return w;
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

    private static void channelsLast(Config c) {
        String format = c.string("data_format", "channels_last");
        if (!format.equals("channels_last")) {
            throw new InvalidInputException("data_format '" + format + "' is not supported, only channels_last");
        }
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

    /** ZeroPadding2D's padding: {@code p}, {@code [h, w]} or {@code [[top, bottom], [left, right]]}. */
    private static int[][] zeroPadding(Object padding) {
        if (padding instanceof Long p) {
            int v = Math.toIntExact(p);
            return new int[][] {{v, v}, {v, v}};
        }
        if (padding instanceof List<?> list && list.size() == 2) {
            int[][] out = new int[2][];
            for (int i = 0; i < 2; i++) {
                Object axis = list.get(i);
                if (axis instanceof Long v) {
                    out[i] = new int[] {Math.toIntExact(v), Math.toIntExact(v)};
                } else if (axis instanceof List<?> pair && pair.size() == 2 && pair.get(0) instanceof Long a
                        && pair.get(1) instanceof Long b) {
                    out[i] = new int[] {Math.toIntExact(a), Math.toIntExact(b)};
                } else {
                    throw new InvalidInputException("padding " + padding + " is malformed");
                }
            }
            return out;
        }
        throw new InvalidInputException("padding " + padding + " is malformed");
    }

    /**
     * Refuses classes that are not Keras's own (code from the model's author would be needed to load them)
     * and layers quantized by Keras, whose weights are laid out differently.
     */
    private static void refuseCustom(Config entry, String what) {
        String module = entry.string("module", null);
        String registered = entry.string("registered_name", null);
        String className = entry.string("class_name");
        if ((module != null && !module.startsWith("keras")) || (registered != null && !registered.equals(className))) {
            throw new InvalidInputException("custom " + what + " ('" + (registered != null ? registered : module)
                    + "') is refused: custom objects are Python code, which is never run");
        }
        if (entry.raw("config") instanceof Map<?, ?> config && config.get("dtype") instanceof Map<?, ?> dtype
                && dtype.get("config") instanceof Map<?, ?> policy && policy.get("name") instanceof String policyName
                && (policyName.startsWith("int") || policyName.startsWith("float8"))) {
            throw new InvalidInputException(what + " is quantized by Keras (dtype policy '" + policyName
                    + "'), which is not supported");
        }
    }

    private static String describe(Object json) {
        String text = String.valueOf(json);
        return text.length() > 60 ? text.substring(0, 60) + "..." : text;
    }

    private static float[] filled(int n, float value) {
        float[] out = new float[n];
        java.util.Arrays.fill(out, value);
        return out;
    }
}
