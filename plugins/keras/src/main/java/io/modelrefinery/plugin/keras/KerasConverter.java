package io.modelrefinery.plugin.keras;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.plugin.convert.ChannelsLastGraph;
import io.modelrefinery.plugin.convert.ChannelsLastGraph.Value;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Converts a Sequential or functional Keras model into an ONNX graph whose inputs and outputs keep Keras's
 * names and shapes. This class follows the model's structure (layers, the nodes that connect them, shared
 * layers, models nested as layers, masks); {@link Layers} converts each layer call. Lambda layers and
 * custom classes are refused with the layer's name and position; nothing in the file is ever run.
 */
final class KerasConverter {
    private final KerasFile file;
    private final Cancellation cancellation;
    private final ChannelsLastGraph graph = new ChannelsLastGraph();
    private final Layers layers;
    /** Values that carry a Keras mask, with the layer the mask comes from. */
    private final Map<Value, String> masks = new IdentityHashMap<>();
    private int convertedLayers;

    private KerasConverter(KerasFile file, Cancellation cancellation) {
        this.file = file;
        this.cancellation = cancellation;
        this.layers = new Layers(graph, this, file.kerasMajor(), file.kerasVersion());
    }

    /** The converted model and what the conversion did. */
    record Result(OnnxModel model, int layers, int layoutChanges) {
    }

    static Result convert(KerasFile file, Cancellation cancellation) {
        return new KerasConverter(file, cancellation).run();
    }

    /**
     * Where a model's layers live: the text that places them in messages, their HDF5 weight group (the
     * outermost model layer's, for nested ones) and their folder in a Keras 3 archive.
     */
    private record Scope(String suffix, String hdf5Group, String archivePrefix) {
        static final Scope TOP = new Scope("", null, "");
    }

    /** One entry of a model's layer list. */
    record Layer(String name, String className, Config entry, Config config, String where, Scope scope,
                 String archivePath) {
    }

    /** One call of a layer: the tensors it reads (positional ones in order) and its keyword arguments. */
    record Call(Layer layer, List<Value> inputs, Map<String, Object> kwargs) {
        Value input() {
            return inputs.get(0);
        }
    }

    private Result run() {
        Config top = LegacyConfig.model(file.model(), file.kerasMajor());
        String className = top.string("class_name");
        refuseCustom(top, "model class '" + className + "'");
        Config config = top.object("config");
        String name = config.string("name", "model");
        List<Layer> list = layers(config, Scope.TOP);
        switch (className) {
            case "Sequential" -> {
                if (list.isEmpty()) {
                    throw new InvalidInputException("the Sequential model has no layers");
                }
                Layer first = list.get(0);
                boolean hasInputLayer = first.className().equals("InputLayer");
                // Keras names the input it creates for a Sequential model after the first layer.
                String inputName = hasInputLayer ? first.name() : first.name() + "_input";
                Value x = graph.input(inputName, inputType(first.config()), inputShape(hasInputLayer ? first.where()
                        : "the Sequential model", first.config(), config, top));
                Layer last = list.get(list.size() - 1);
                graph.reserve(last.name());
                List<Value> out = sequential(list, List.of(x));
                graph.output(out.get(0), last.name());
            }
            case "Functional", "Model" -> {
                List<Ref> inputs = refs(config.raw("input_layers"), "input_layers");
                List<Ref> outputs = refs(config.raw("output_layers"), "output_layers");
                List<String> outputNames = outputNames(outputs);
                outputNames.forEach(graph::reserve);
                List<Value> feeds = new ArrayList<>();
                for (Ref input : inputs) {
                    Layer layer = list.stream().filter(l -> l.name().equals(input.layer())).findFirst().orElse(null);
                    if (layer == null || !layer.className().equals("InputLayer")) {
                        throw new InvalidInputException("model input '" + input.layer()
                                + "' is not an InputLayer of the model");
                    }
                    feeds.add(graph.input(input.layer(), inputType(layer.config()),
                            inputShape(layer.where(), layer.config())));
                }
                List<Value> out = functional(list, config, feeds);
                for (int i = 0; i < out.size(); i++) {
                    graph.output(out.get(i), outputNames.get(i));
                }
            }
            default -> throw new InvalidInputException("model class '" + className + "' cannot be converted: only "
                    + "Sequential and functional models can (a subclassed model is Python code)");
        }
        return new Result(graph.build(name, "model-refinery keras-to-onnx"), convertedLayers, graph.layoutChanges());
    }

    /** Output names: the layer's name, with the tensor's index for the second and later outputs of a layer. */
    private static List<String> outputNames(List<Ref> outputs) {
        List<String> names = new ArrayList<>();
        for (Ref ref : outputs) {
            String name = ref.tensor() == 0 && ref.node() == 0 ? ref.layer() : ref.layer() + "_" + ref.node() + "_"
                    + ref.tensor();
            names.add(names.contains(name) ? name + "_" + names.size() : name);
        }
        return names;
    }

    private List<Layer> layers(Config config, Scope scope) {
        List<Object> entries = config.list("layers");
        List<Layer> out = new ArrayList<>();
        Map<String, Integer> used = new HashMap<>();
        for (int i = 0; i < entries.size(); i++) {
            Config entry = Config.of(entries.get(i), "layer " + (i + 1) + " of " + entries.size() + scope.suffix());
            String className = entry.string("class_name");
            Config layerConfig = Config.of(entry.raw("config"), entry.where() + " field 'config'");
            String name = entry.string("name", layerConfig.string("name", "layer_" + (i + 1)));
            String where = "layer '" + name + "' (" + className + ", layer " + (i + 1) + " of " + entries.size()
                    + scope.suffix() + ")";
            layerConfig = new Config(layerConfig.map(), "its configuration");
            // A Keras 3 archive stores the n-th layer of a class under its snake-case class name, _n from the second.
            String base = snakeCase(className);
            int n = used.merge(base, 1, Integer::sum) - 1;
            String archivePath = scope.archivePrefix() + "layers/" + (n == 0 ? base : base + "_" + n);
            out.add(new Layer(name, className, entry, layerConfig, where, scope, archivePath));
        }
        return out;
    }

    /** Keras's {@code naming.to_snake_case}. */
    static String snakeCase(String name) {
        String s = name.replaceAll("\\W+", "");
        s = s.replaceAll("(.)([A-Z][a-z]+)", "$1_$2");
        return s.replaceAll("([a-z])([A-Z])", "$1_$2").toLowerCase(Locale.ROOT);
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

    /** The element type Keras feeds an input: its {@code dtype}, float32 unless it says otherwise. */
    private static DataType inputType(Config c) {
        String dtype = c.raw("dtype") instanceof String s ? s : "float32";
        return switch (dtype) {
            case "float32", "float16", "float64", "bfloat16" -> DataType.FLOAT;
            case "int32" -> DataType.INT32;
            case "int64" -> DataType.INT64;
            default -> throw new InvalidInputException("input dtype '" + dtype + "' is not supported");
        };
    }

    // ---------------------------------------------------------------- model structure

    /** A Sequential model's layers applied in turn to its one input. */
    private List<Value> sequential(List<Layer> list, List<Value> inputs) {
        if (inputs.size() != 1) {
            throw new InvalidInputException("a Sequential model takes one input, is given " + inputs.size());
        }
        List<Value> x = inputs;
        for (Layer layer : list) {
            if (layer.className().equals("InputLayer")) {
                continue;
            }
            x = call(new Call(layer, List.of(single(x, layer)), Map.of()));
        }
        return x;
    }

    private static Value single(List<Value> values, Layer layer) {
        if (values.size() != 1) {
            throw new InvalidInputException(layer.where() + " reads a layer with " + values.size() + " outputs; in a "
                    + "Sequential model each layer must have one");
        }
        return values.get(0);
    }

    /** A reference to one output tensor: {@code [layer, node index, tensor index]}. */
    private record Ref(String layer, int node, int tensor) {
    }

    /** A functional model: every node of every layer, in dependency order, from the model's input layers. */
    private List<Value> functional(List<Layer> list, Config config, List<Value> feeds) {
        List<Ref> inputs = refs(config.raw("input_layers"), "input_layers");
        List<Ref> outputs = refs(config.raw("output_layers"), "output_layers");
        if (inputs.size() != feeds.size()) {
            throw new InvalidInputException("the model has " + inputs.size() + " inputs, is given " + feeds.size());
        }
        Map<String, Layer> byName = new LinkedHashMap<>();
        list.forEach(l -> byName.put(l.name(), l));
        Map<Ref, Value> values = new HashMap<>();
        for (int i = 0; i < inputs.size(); i++) {
            values.put(new Ref(inputs.get(i).layer(), 0, 0), feeds.get(i));
        }
        record Pending(Layer layer, int node, Object data) {
        }
        List<Pending> pending = new ArrayList<>();
        for (Layer layer : list) {
            if (layer.className().equals("InputLayer")) {
                continue;
            }
            Object nodes = layer.entry().raw("inbound_nodes");
            if (!(nodes instanceof List<?> nodeList) || nodeList.isEmpty()) {
                continue; // a layer the model does not call
            }
            for (int n = 0; n < nodeList.size(); n++) {
                pending.add(new Pending(layer, n, nodeList.get(n)));
            }
        }
        // Keras lists layers in a topological order, but a shared layer's later calls may need later layers.
        while (!pending.isEmpty()) {
            boolean progress = false;
            for (Pending p : new ArrayList<>(pending)) {
                Node node = node(p.data(), p.layer());
                if (!node.refs().stream().allMatch(values::containsKey)) {
                    continue;
                }
                if (node.args().isEmpty()) {
                    throw new InvalidInputException(p.layer().where() + " has no input");
                }
                List<Value> args = node.args().stream().map(values::get).toList();
                Map<String, Object> kwargs = new LinkedHashMap<>();
                node.kwargs().forEach((k, v) -> kwargs.put(k, v instanceof Ref r ? values.get(r) : v));
                List<Value> out = call(new Call(p.layer(), args, kwargs));
                for (int t = 0; t < out.size(); t++) {
                    values.put(new Ref(p.layer().name(), p.node(), t), out.get(t));
                }
                pending.remove(p);
                progress = true;
            }
            if (!progress) {
                Pending stuck = pending.get(0);
                List<Ref> missing = node(stuck.data(), stuck.layer()).refs().stream()
                        .filter(r -> !values.containsKey(r)).toList();
                throw new InvalidInputException(stuck.layer().where() + " reads " + missing.stream()
                        .map(r -> "output " + r.tensor() + " of node " + r.node() + " of '" + r.layer() + "'").toList()
                        + ", which the model does not compute");
            }
        }
        List<Value> out = new ArrayList<>();
        for (Ref ref : outputs) {
            Value value = values.get(ref);
            if (value == null) {
                throw new InvalidInputException("model output '" + ref.layer() + "' is not computed by the model");
            }
            out.add(value);
        }
        return out;
    }

    /** {@code input_layers}/{@code output_layers}: {@code [[name, node, tensor], ...]} or one {@code [name, node, tensor]}. */
    private static List<Ref> refs(Object refs, String field) {
        if (!(refs instanceof List<?> list) || list.isEmpty()) {
            throw new InvalidInputException("the functional model's '" + field + "' is missing");
        }
        if (list.get(0) instanceof String) {
            return List.of(ref(list, field));
        }
        List<Ref> out = new ArrayList<>();
        for (Object item : list) {
            out.add(ref(item, field));
        }
        return out;
    }

    private static Ref ref(Object item, String what) {
        if (item instanceof List<?> l && l.size() >= 3 && l.get(0) instanceof String name && l.get(1) instanceof Long node
                && l.get(2) instanceof Long tensor) {
            return new Ref(name, Math.toIntExact(node), Math.toIntExact(tensor));
        }
        throw new InvalidInputException(what + " has a malformed tensor reference: " + Json.describe(item));
    }

    /** One inbound node: its positional input tensors and keyword arguments (tensors as {@link Ref}s). */
    private record Node(List<Ref> args, Map<String, Object> kwargs) {
        List<Ref> refs() {
            List<Ref> all = new ArrayList<>(args);
            kwargs.values().stream().filter(v -> v instanceof Ref).map(v -> (Ref) v).forEach(all::add);
            return all;
        }
    }

    /**
     * Parses an inbound node. Keras 1 and 2 write {@code [[name, node, tensor, {kwargs}], ...]} (Keras 1
     * without the kwargs; Keras 2 repeats the same kwargs in each entry, tensors in them as
     * {@code [name, node, tensor]}); Keras 3 writes {@code {"args": [...], "kwargs": {...}}} with each tensor
     * a {@code __keras_tensor__} object.
     */
    private static Node node(Object data, Layer layer) {
        String where = layer.where() + " has a malformed inbound node";
        List<Ref> args = new ArrayList<>();
        Map<String, Object> kwargs = new LinkedHashMap<>();
        if (data instanceof Map<?, ?> map) {
            collectKerasTensors(map.get("args"), args, where);
            if (map.get("kwargs") instanceof Map<?, ?> kw) {
                kw.forEach((k, v) -> {
                    List<Ref> tensors = new ArrayList<>();
                    collectKerasTensors(v, tensors, where);
                    kwargs.put(String.valueOf(k), tensors.size() == 1 ? tensors.get(0) : tensors.isEmpty() ? v
                            : refuseTensorList(layer, String.valueOf(k)));
                });
            }
        } else if (data instanceof List<?> entries) {
            for (Object entry : entries) {
                args.add(ref(entry, where));
                if (entry instanceof List<?> l && l.size() > 3 && l.get(3) instanceof Map<?, ?> kw) {
                    kw.forEach((k, v) -> kwargs.put(String.valueOf(k), isRef(v) ? ref(v, where) : v));
                }
            }
        } else {
            throw new InvalidInputException(where);
        }
        return new Node(args, kwargs);
    }

    private static Object refuseTensorList(Layer layer, String key) {
        throw new InvalidInputException(layer.where() + " takes a list of tensors as '" + key + "', which is not supported");
    }

    private static boolean isRef(Object v) {
        return v instanceof List<?> l && l.size() == 3 && l.get(0) instanceof String && l.get(1) instanceof Long
                && l.get(2) instanceof Long;
    }

    private static void collectKerasTensors(Object json, List<Ref> out, String where) {
        if (json instanceof Map<?, ?> map) {
            if ("__keras_tensor__".equals(map.get("class_name")) && map.get("config") instanceof Map<?, ?> config) {
                out.add(ref(config.get("keras_history"), where));
                return;
            }
            map.values().forEach(v -> collectKerasTensors(v, out, where));
        } else if (json instanceof List<?> list) {
            list.forEach(v -> collectKerasTensors(v, out, where));
        }
    }

    // ---------------------------------------------------------------- one call

    private List<Value> call(Call call) {
        cancellation.throwIfCancelled();
        Layer layer = call.layer();
        try {
            refuseCustom(layer.entry(), layer.className() + " class");
            if (!Layers.LAMBDAS.contains(layer.className())) {
                refuseCode(layer.entry().map());
            }
            List<Value> out = switch (layer.className()) {
                case "Sequential", "Functional", "Model" -> nested(call);
                default -> {
                    List<Value> converted = layers.convert(call);
                    convertedLayers++;
                    yield converted;
                }
            };
            propagateMask(call, out);
            return out;
        } catch (InvalidInputException e) {
            if (e.getMessage().startsWith("layer '")) {
                throw e; // a layer of a nested model: already placed
            }
            throw new InvalidInputException(layer.where() + ": " + e.getMessage(), e);
        }
    }

    /** A model used as a layer: its layers applied to the call's inputs, their weights in its own group. */
    private List<Value> nested(Call call) {
        Layer layer = call.layer();
        Config config = layer.config();
        String group = layer.scope().hdf5Group() != null ? layer.scope().hdf5Group() : layer.name();
        Scope scope = new Scope(" in model '" + layer.name() + "'" + layer.scope().suffix(), group,
                layer.archivePath() + "/");
        List<Layer> inner = layers(config, scope);
        if (layer.className().equals("Sequential")) {
            return sequential(inner, call.inputs());
        }
        return functional(inner, config, call.inputs());
    }

    // ---------------------------------------------------------------- masks

    /** Layers that keep their input's mask: they act on each time step (or element) alone. */
    private static final java.util.Set<String> KEEP_MASK = java.util.Set.of("Dense", "Activation", "Dropout",
            "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
            "BatchNormalization", "LayerNormalization", "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU", "ReLU",
            "Softmax", "TimeDistributed", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
            "Concatenate", "Masking", "Embedding");

    /**
     * Keras carries a mask from Embedding(mask_zero=True) and Masking to the layers after them. Layers
     * that act per step pass it on; RNNs, attention and 1-D pooling would skip masked steps, which the
     * converted graph cannot: they are refused ({@link #requireNoMask}); other layers drop it.
     */
    private void propagateMask(Call call, List<Value> out) {
        String mask = call.inputs().stream().map(masks::get).filter(m -> m != null).findFirst().orElse(null);
        String className = call.layer().className();
        if (className.equals("Masking") || (className.equals("Embedding") && call.layer().config().bool("mask_zero", false))) {
            mask = call.layer().where();
        } else if (!KEEP_MASK.contains(className)) {
            mask = null;
        }
        if (mask != null && !out.isEmpty()) {
            masks.put(out.get(0), mask);
        }
    }

    /** Refuses a layer whose result would depend on a mask of its input. */
    void requireNoMask(Call call) {
        for (Value v : call.inputs()) {
            String source = masks.get(v);
            if (source != null) {
                throw new InvalidInputException("it reads the mask of " + source + ": masked time steps are not "
                        + "supported (rebuild the model without mask_zero/Masking, or with fixed-length inputs)");
            }
        }
    }

    // ---------------------------------------------------------------- weights

    /**
     * The weights of a layer (or of one of its parts in a Keras 3 archive, e.g. {@code "cell"}), in the
     * order Keras saves them, in Keras 2's layouts.
     *
     * @param archiveParts the paths under the layer's folder to try in an archive, in order ("" for the layer's own)
     */
    List<Tensor> weights(Layer layer, String... archiveParts) {
        List<Tensor> w;
        if (file.isArchive()) {
            w = List.of();
            for (String part : archiveParts.length == 0 ? new String[] {""} : archiveParts) {
                String path = part.isEmpty() ? layer.archivePath() : layer.archivePath() + "/" + part;
                w = file.archiveWeights(path, part.isEmpty() ? layer.name() : null);
                if (!w.isEmpty()) {
                    break;
                }
            }
        } else if (layer.scope().hdf5Group() == null) {
            w = file.hdf5Weights(layer.name(), null);
        } else {
            w = file.hdf5Weights(layer.scope().hdf5Group(), layer.name());
            if (w.isEmpty() && file.hasHdf5Group(layer.name())) {
                w = file.hdf5Weights(layer.name(), null); // Keras 1 saved a nested Sequential's layers at the top
            }
        }
        return legacyWeights(layer, w);
    }

    /** Whether the weights follow the Keras 3 archive layout (one folder per layer and sub-layer). */
    boolean isArchive() {
        return file.isArchive();
    }

    /** Weights of {@code layer}'s class that were read elsewhere (a wrapper's share), in Keras 2's layouts. */
    List<Tensor> legacyWeights(Layer layer, List<Tensor> weights) {
        return LegacyConfig.weights(layer.className(), layer.config(), weights, file.kerasMajor() == 1, file.backend());
    }

    /** The weights of a layer, which must be {@code expected} many. */
    List<Tensor> weights(Layer layer, int expected, String... archiveParts) {
        List<Tensor> w = weights(layer, archiveParts);
        if (w.size() != expected) {
            throw new InvalidInputException("expected " + expected + " weights, the file has " + w.size());
        }
        return w;
    }

    // ---------------------------------------------------------------- refusals

    /**
     * Refuses classes that are not Keras's own (code from the model's author would be needed to load them)
     * and layers quantized by Keras, whose weights are laid out differently.
     */
    static void refuseCustom(Config entry, String what) {
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

    /**
     * Refuses a layer whose configuration carries Python code anywhere (a Keras 3 {@code __lambda__} with
     * marshalled bytecode, a Keras 2 function with {@code function_type}): the bytes are never decoded.
     */
    private static void refuseCode(Object json) {
        if (json instanceof Map<?, ?> map) {
            if ("__lambda__".equals(map.get("class_name")) || "lambda".equals(map.get("function_type"))
                    || "lambda".equals(map.get("mode_type"))) {
                throw new InvalidInputException("it carries a Python function (marshalled bytecode), which is refused "
                        + "and never run; rebuild the model with built-in layers");
            }
            map.values().forEach(KerasConverter::refuseCode);
        } else if (json instanceof List<?> list) {
            list.forEach(KerasConverter::refuseCode);
        }
    }
}
