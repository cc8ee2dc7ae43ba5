package io.modelrefinery.plugin.keras;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.plugin.convert.TensorLayouts;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Brings what older Keras versions wrote into the form Keras 2.2+ writes, so that the converter reads one
 * form: the configuration (Keras 1 layer classes and argument names, a Sequential model's bare layer
 * list) and the weights (Keras 1 kernel layouts, per-gate recurrent weights, Theano's flipped kernels).
 * Each rule is the one Keras 2 applies when it loads such a file ({@code keras/legacy/interfaces.py} and
 * {@code preprocess_weights_for_loading} in {@code keras/engine/saving.py}), so the converted model
 * computes what Keras 2 computes with the file.
 */
final class LegacyConfig {
    /** Keras 1 class names that Keras 2 renamed. */
    private static final Map<String, String> CLASSES = Map.ofEntries(
            Map.entry("Convolution1D", "Conv1D"), Map.entry("AtrousConvolution1D", "Conv1D"),
            Map.entry("Convolution2D", "Conv2D"), Map.entry("AtrousConvolution2D", "Conv2D"),
            Map.entry("Convolution3D", "Conv3D"), Map.entry("SeparableConvolution2D", "SeparableConv2D"),
            Map.entry("Deconvolution2D", "Conv2DTranspose"), Map.entry("TimeDistributedDense", "Dense"));

    /** Keras 1 argument names and their Keras 2 names, for every layer class that has them. */
    private static final Map<String, String> COMMON = Map.of("border_mode", "padding", "dim_ordering", "data_format",
            "bias", "use_bias", "input_dtype", "dtype", "inner_activation", "recurrent_activation", "subsample",
            "strides", "subsample_length", "strides", "nb_filter", "filters", "filter_length", "kernel_size",
            "atrous_rate", "dilation_rate");

    private static final List<String> RECURRENT = List.of("LSTM", "GRU", "SimpleRNN");

    private LegacyConfig() {
    }

    /**
     * The top-level model configuration as Keras 2.2+ writes it: {@code {"class_name", "config": {"name",
     * "layers", ...}}}, layers in Keras 2 form when the file is from Keras 1.
     */
    static Config model(Config top, int kerasMajor) {
        return Config.of(modelEntry(top.map(), kerasMajor == 1), "model_config");
    }

    private static Map<String, Object> modelEntry(Map<String, Object> entry, boolean keras1) {
        Map<String, Object> out = new LinkedHashMap<>(entry);
        Object config = entry.get("config");
        Map<String, Object> body;
        if (config instanceof List<?> layers) { // Sequential before Keras 2.2: the bare list of layers
            body = new LinkedHashMap<>();
            body.put("name", entry.getOrDefault("name", "sequential"));
            body.put("layers", layers);
        } else if (config instanceof Map<?, ?> map) {
            body = new LinkedHashMap<>(cast(map));
        } else {
            throw new InvalidInputException("model_config field 'config' is neither a JSON object nor a list of layers");
        }
        if (body.get("layers") instanceof List<?> layers) {
            List<Object> converted = new ArrayList<>();
            for (Object layer : layers) {
                converted.add(layer instanceof Map<?, ?> m ? layerEntry(cast(m), keras1) : layer);
            }
            body.put("layers", converted);
        }
        out.put("config", body);
        return out;
    }

    /** One layer entry; nested models and wrapped layers are converted too. */
    private static Map<String, Object> layerEntry(Map<String, Object> entry, boolean keras1) {
        Object className = entry.get("class_name");
        if ("Sequential".equals(className) || "Model".equals(className) || "Functional".equals(className)) {
            return modelEntry(entry, keras1);
        }
        if (!keras1 || !(className instanceof String name) || !(entry.get("config") instanceof Map<?, ?> c)) {
            return entry;
        }
        Map<String, Object> config = new LinkedHashMap<>(cast(c));
        Map<String, Object> out = new LinkedHashMap<>(entry);
        out.put("class_name", CLASSES.getOrDefault(name, name));
        for (Map.Entry<String, String> rename : COMMON.entrySet()) {
            if (config.containsKey(rename.getKey()) && !config.containsKey(rename.getValue())) {
                config.put(rename.getValue(), config.remove(rename.getKey()));
            }
        }
        if (config.get("data_format") instanceof String ordering) {
            config.put("data_format", switch (ordering) {
                case "th" -> "channels_first";
                case "tf" -> "channels_last";
                default -> ordering;
            });
        }
        if (config.containsKey("nb_row") && config.containsKey("nb_col")) {
            config.put("kernel_size", List.of(config.remove("nb_row"), config.remove("nb_col")));
        }
        if (config.containsKey("kernel_dim1")) { // Convolution3D
            config.put("kernel_size", List.of(config.remove("kernel_dim1"), config.remove("kernel_dim2"),
                    config.remove("kernel_dim3")));
        }
        if (name.equals("Dense") || name.equals("TimeDistributedDense") || RECURRENT.contains(name)) {
            rename(config, "output_dim", "units");
        }
        if (name.endsWith("Pooling1D")) {
            rename(config, "pool_length", "pool_size");
            rename(config, "stride", "strides");
        }
        if (name.equals("UpSampling1D")) {
            rename(config, "length", "size");
        }
        if (name.equals("Dropout") || name.equals("SpatialDropout1D") || name.equals("SpatialDropout2D")) {
            rename(config, "p", "rate");
        }
        if (name.equals("ZeroPadding2D") && config.get("padding") instanceof List<?> p && p.size() == 4) {
            config.put("padding", List.of(List.of(p.get(0), p.get(1)), List.of(p.get(2), p.get(3))));
        }
        if (name.equals("Merge")) {
            out.put("class_name", mergeClass(config));
        }
        if (config.get("layer") instanceof Map<?, ?> wrapped) { // TimeDistributed, Bidirectional
            config.put("layer", layerEntry(cast(wrapped), true));
        }
        out.put("config", config);
        return out;
    }

    /** Keras 1's {@code Merge} layer as the Keras 2 merge layer of its mode. */
    private static String mergeClass(Map<String, Object> config) {
        Object mode = config.get("mode");
        String type = String.valueOf(config.getOrDefault("mode_type", "raw"));
        if (!type.equals("raw") || !(mode instanceof String m)) {
            // mode_type "lambda" or "function": the merge is Python code; the converter refuses "Lambda"
            return "Lambda";
        }
        return switch (m) {
            case "sum" -> "Add";
            case "mul" -> "Multiply";
            case "ave" -> "Average";
            case "max" -> "Maximum";
            case "concat" -> {
                config.put("axis", config.getOrDefault("concat_axis", -1L));
                yield "Concatenate";
            }
            default -> "Merge(" + m + ")"; // dot, cos: refused as an unsupported class with its mode
        };
    }

    private static void rename(Map<String, Object> config, String from, String to) {
        if (config.containsKey(from) && !config.containsKey(to)) {
            config.put(to, config.remove(from));
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> cast(Map<?, ?> map) {
        return (Map<String, Object>) map;
    }

    // ---------------------------------------------------------------- weights

    /**
     * A layer's weights in Keras 2's layout.
     *
     * @param className the layer's (Keras 2) class
     * @param keras1 whether the weights were written by Keras 1
     * @param backend the backend that trained them, or null if the file does not say
     */
    static List<Tensor> weights(String className, Config config, List<Tensor> weights, boolean keras1,
                                String backend) {
        List<Tensor> w = new ArrayList<>(weights);
        if (w.isEmpty()) {
            return w;
        }
        if (keras1) {
            boolean channelsFirst = config.string("data_format", "channels_last").equals("channels_first");
            switch (className) {
                case "Conv1D" -> {
                    Tensor k = w.get(0);
                    long filters = config.integer("filters", 0);
                    if (k.rank() == 4 && (k.dim(1) != 1 || k.dim(3) != filters)) {
                        k = TensorLayouts.transpose(k, 2, 3, 1, 0); // Keras 1.1: (filters, input_dim, length, 1)
                    }
                    if (k.rank() == 4) { // (length, 1, input_dim, filters) -> (length, input_dim, filters)
                        k = k.reshape(k.dim(0), k.dim(2), k.dim(3));
                    }
                    w.set(0, k);
                }
                case "Conv2D" -> {
                    if (channelsFirst) { // (filters, in, rows, cols) -> (rows, cols, in, filters)
                        w.set(0, TensorLayouts.transpose(w.get(0), 2, 3, 1, 0));
                    }
                }
                case "Conv3D" -> {
                    if (channelsFirst) {
                        w.set(0, TensorLayouts.transpose(w.get(0), 2, 3, 4, 1, 0));
                    }
                }
                case "LSTM" -> {
                    if (w.size() == 12) { // per gate, in the order i, c, f, o; Keras 2 stacks i, f, c, o
                        w = List.of(concat(w, 0, 6, 3, 9), concat(w, 1, 7, 4, 10), concat(w, 2, 8, 5, 11));
                    }
                }
                case "GRU" -> {
                    if (w.size() == 9) { // per gate, z, r, h
                        w = List.of(concat(w, 0, 3, 6), concat(w, 1, 4, 7), concat(w, 2, 5, 8));
                    }
                }
                default -> {
                }
            }
        }
        if ("theano".equals(backend) && (className.equals("Conv1D") || className.equals("Conv2D")
                || className.equals("Conv3D"))) {
            w.set(0, flipSpatial(w.get(0))); // Theano convolves; TensorFlow and ONNX correlate
        }
        return w;
    }

    /** The tensors at {@code indices} joined along their last axis. */
    private static Tensor concat(List<Tensor> w, int... indices) {
        Tensor first = w.get(indices[0]);
        long[] shape = first.shape();
        int rank = shape.length;
        long rows = 1;
        for (int i = 0; i < rank - 1; i++) {
            rows *= shape[i];
        }
        long total = 0;
        for (int i : indices) {
            total += w.get(i).dim(rank - 1);
        }
        float[] out = new float[Math.toIntExact(rows * total)];
        long offset = 0;
        for (int i : indices) {
            Tensor t = w.get(i);
            float[] values = t.toFloatArray();
            long cols = t.dim(rank - 1);
            for (long r = 0; r < rows; r++) {
                System.arraycopy(values, (int) (r * cols), out, (int) (r * total + offset), (int) cols);
            }
            offset += cols;
        }
        shape[rank - 1] = total;
        return Tensor.ofFloats(shape, out);
    }

    /** A kernel {@code (k1, ..., kn, in, out)} reversed along its spatial axes, as Keras's {@code convert_kernel}. */
    private static Tensor flipSpatial(Tensor kernel) {
        long[] shape = kernel.shape();
        int spatial = shape.length - 2;
        long inner = shape[spatial] * shape[spatial + 1];
        float[] in = kernel.toFloatArray();
        float[] out = new float[in.length];
        int positions = in.length / (int) inner;
        for (int p = 0; p < positions; p++) {
            int rest = p;
            int flipped = 0;
            int stride = 1;
            for (int a = spatial - 1; a >= 0; a--) {
                int size = (int) shape[a];
                int index = rest % size;
                rest /= size;
                flipped += (size - 1 - index) * stride;
                stride *= size;
            }
            System.arraycopy(in, p * (int) inner, out, flipped * (int) inner, (int) inner);
        }
        return Tensor.ofFloats(shape, out);
    }
}
