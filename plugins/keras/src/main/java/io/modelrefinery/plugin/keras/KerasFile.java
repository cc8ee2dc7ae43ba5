package io.modelrefinery.plugin.keras;

import io.jhdf.HdfFile;
import io.jhdf.api.Attribute;
import io.jhdf.api.Dataset;
import io.jhdf.api.Group;
import io.jhdf.api.Node;
import io.jhdf.exceptions.HdfException;
import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.Tensor;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * A Keras model file opened for conversion: its configuration and its weights. Two layouts exist.
 *
 * <ul>
 *   <li>HDF5 ({@code .h5}, Keras 2 and Keras 3's legacy format): the configuration is the root attribute
 *       {@code model_config}; the weights of layer {@code L} are the datasets that the attribute
 *       {@code weight_names} of group {@code model_weights/L} lists, in order.</li>
 *   <li>Keras 3 archive ({@code .keras}): a zip with {@code config.json} and {@code model.weights.h5},
 *       where a layer's weights are {@code layers/<path>/vars/0, 1, ...} and the path comes from the
 *       layer's class (see {@link KerasConverter}), not its name.</li>
 * </ul>
 *
 * Reading never evaluates anything in the file: code a model may carry stays bytes in its JSON.
 */
final class KerasFile implements AutoCloseable {
    private static final String CONFIG_ENTRY = "config.json";
    private static final String WEIGHTS_ENTRY = "model.weights.h5";

    private final Config model;
    private final HdfFile weights;
    private final boolean archive;

    private KerasFile(Config model, HdfFile weights, boolean archive) {
        this.model = model;
        this.weights = weights;
        this.archive = archive;
    }

    /**
     * Opens {@code file}; a {@code .keras} archive's weights are copied to {@code scratch} first.
     *
     * @throws InvalidInputException if it is not a Keras model
     */
    static KerasFile open(Path file, Path scratch) throws IOException {
        byte[] head;
        try (InputStream in = Files.newInputStream(file)) {
            head = in.readNBytes(8);
        }
        if (head.length >= 4 && head[0] == 'P' && head[1] == 'K') {
            return openArchive(file, scratch);
        }
        if (head.length >= 8 && (head[0] & 0xff) == 0x89 && head[1] == 'H' && head[2] == 'D' && head[3] == 'F') {
            return openHdf5(file);
        }
        throw new InvalidInputException("not a Keras model: " + file.getFileName()
                + " is neither an HDF5 file (.h5) nor a Keras archive (.keras)");
    }

    private static KerasFile openArchive(Path file, Path scratch) throws IOException {
        try (ZipFile zip = new ZipFile(file.toFile())) {
            ZipEntry configEntry = zip.getEntry(CONFIG_ENTRY);
            if (configEntry == null) {
                throw new InvalidInputException("not a Keras archive: " + file.getFileName() + " has no "
                        + CONFIG_ENTRY);
            }
            String json;
            try (InputStream in = zip.getInputStream(configEntry)) {
                json = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
            Config config = Config.of(Json.parse(json, CONFIG_ENTRY), CONFIG_ENTRY);
            ZipEntry weightsEntry = zip.getEntry(WEIGHTS_ENTRY);
            if (weightsEntry == null) {
                if (zip.getEntry("model.weights.json") != null) {
                    throw new InvalidInputException("Keras archive " + file.getFileName()
                            + " keeps its weights in shards, which are not supported");
                }
                return new KerasFile(config, null, true);
            }
            Path copy = scratch.resolve(WEIGHTS_ENTRY);
            try (InputStream in = zip.getInputStream(weightsEntry)) {
                Files.copy(in, copy, StandardCopyOption.REPLACE_EXISTING);
            }
            return new KerasFile(config, openHdf(copy, WEIGHTS_ENTRY), true);
        } catch (java.util.zip.ZipException e) {
            throw new InvalidInputException("not a readable Keras archive: " + file.getFileName() + " ("
                    + e.getMessage() + ")", e);
        }
    }

    private static KerasFile openHdf5(Path file) {
        HdfFile hdf = openHdf(file, file.getFileName().toString());
        try {
            Attribute config = hdf.getAttribute("model_config");
            if (config == null) {
                throw new InvalidInputException(file.getFileName() + " has no model_config: it holds weights "
                        + "only, not a Keras model");
            }
            String json = text(config.getData(), "model_config");
            return new KerasFile(Config.of(Json.parse(json, "model_config"), "model_config"), hdf, false);
        } catch (RuntimeException e) {
            hdf.close();
            throw e instanceof HdfException ? unreadable(file.getFileName().toString(), e) : e;
        }
    }

    private static HdfFile openHdf(Path file, String name) {
        try {
            return new HdfFile(file);
        } catch (HdfException e) {
            throw unreadable(name, e);
        }
    }

    /** The top-level configuration: {@code {"class_name": ..., "config": {...}}}. */
    Config model() {
        return model;
    }

    /** Whether the weights follow the Keras 3 archive layout. */
    boolean isArchive() {
        return archive;
    }

    /**
     * The weights of one layer, in the order Keras saves them (for most layers: kernel, then bias).
     *
     * @param name the layer's name
     * @param archivePath the layer's path in a Keras 3 archive
     */
    List<Tensor> weights(String name, String archivePath) {
        if (weights == null) {
            return List.of();
        }
        try {
            return archive ? archiveWeights(name, archivePath) : hdf5Weights(name);
        } catch (HdfException e) {
            throw unreadable("the weights of layer '" + name + "'", e);
        }
    }

    private List<Tensor> hdf5Weights(String name) {
        Node root = weights.getChild("model_weights");
        Group group = root instanceof Group ? (Group) root : weights;
        Node layer = group.getChild(name);
        if (!(layer instanceof Group)) {
            return List.of();
        }
        List<String> names = new ArrayList<>();
        Attribute single = layer.getAttribute("weight_names");
        if (single != null) {
            names.addAll(strings(single.getData()));
        } else { // attributes too large for one HDF5 header are split into weight_names0, weight_names1, ...
            for (int i = 0; layer.getAttribute("weight_names" + i) != null; i++) {
                names.addAll(strings(layer.getAttribute("weight_names" + i).getData()));
            }
        }
        List<Tensor> out = new ArrayList<>();
        for (String weightName : names) {
            Node node = ((Group) layer).getByPath(weightName);
            out.add(tensor(node, weightName));
        }
        return out;
    }

    private List<Tensor> archiveWeights(String name, String path) {
        Node vars = find("layers/" + path + "/vars");
        if (vars == null) {
            vars = find("_layer_checkpoint_dependencies/" + path + "/vars"); // files of Keras 2.13
        }
        if (!(vars instanceof Group)) {
            return List.of();
        }
        Attribute owner = vars.getAttribute("name");
        if (owner != null && !name.equals(text(owner.getData(), "name"))) {
            throw new InvalidInputException("the weights at layers/" + path + " belong to layer '"
                    + text(owner.getData(), "name") + "', not '" + name + "'");
        }
        Map<Integer, Node> byIndex = new TreeMap<>();
        for (Map.Entry<String, Node> child : ((Group) vars).getChildren().entrySet()) {
            try {
                byIndex.put(Integer.parseInt(child.getKey()), child.getValue());
            } catch (NumberFormatException e) {
                throw new InvalidInputException("unexpected weight '" + child.getKey() + "' in layers/" + path);
            }
        }
        List<Tensor> out = new ArrayList<>();
        for (Map.Entry<Integer, Node> entry : byIndex.entrySet()) {
            out.add(tensor(entry.getValue(), "layers/" + path + "/vars/" + entry.getKey()));
        }
        return out;
    }

    private Node find(String path) {
        Node node = weights;
        for (String part : path.split("/")) {
            if (!(node instanceof Group)) {
                return null;
            }
            node = ((Group) node).getChild(part);
        }
        return node;
    }

    private static Tensor tensor(Node node, String what) {
        if (!(node instanceof Dataset)) {
            throw new InvalidInputException("weight '" + what + "' is missing or not a dataset");
        }
        Dataset dataset = (Dataset) node;
        long[] shape = Arrays.stream(dataset.getDimensions()).asLongStream().toArray();
        Object data = dataset.isScalar() ? dataset.getData() : dataset.getDataFlat();
        float[] values;
        if (data instanceof float[]) {
            values = (float[]) data;
        } else if (data instanceof double[]) {
            double[] d = (double[]) data;
            values = new float[d.length];
            for (int i = 0; i < d.length; i++) {
                values[i] = (float) d[i];
            }
        } else if (data instanceof Float) {
            values = new float[] {(Float) data};
        } else {
            throw new InvalidInputException("weight '" + what + "' is " + dataset.getJavaType().getSimpleName()
                    + ", not float32 or float64");
        }
        return Tensor.ofFloats(shape, values);
    }

    /** Strings of an HDF5 string attribute: fixed or variable length, one or an array; empty if numeric. */
    private static List<String> strings(Object data) {
        if (data instanceof String) {
            return List.of((String) data);
        }
        if (data instanceof String[]) {
            return List.of((String[]) data);
        }
        return List.of(); // Keras writes an empty float array for layers without weights
    }

    private static String text(Object data, String what) {
        List<String> values = strings(data);
        if (values.size() != 1) {
            throw new InvalidInputException("attribute '" + what + "' is not a string");
        }
        return values.get(0);
    }

    private static InvalidInputException unreadable(String what, Exception e) {
        return new InvalidInputException("cannot read " + what + " as HDF5: " + e.getMessage(), e);
    }

    @Override
    public void close() {
        if (weights != null) {
            weights.close();
        }
    }
}
