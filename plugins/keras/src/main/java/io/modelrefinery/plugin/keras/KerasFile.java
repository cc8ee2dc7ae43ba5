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
 * Reading never evaluates anything in the file: code a model may carry stays bytes in its JSON, and an
 * archive with any entry besides those three (a pickle, Python source, a file Keras does not write) is
 * refused before any entry is read.
 */
final class KerasFile implements AutoCloseable {
    private static final String CONFIG_ENTRY = "config.json";
    private static final String METADATA_ENTRY = "metadata.json";
    private static final String WEIGHTS_ENTRY = "model.weights.h5";
    /** A configuration is text of a few megabytes at most; more is not a Keras model (or a zip bomb). */
    private static final long MAX_CONFIG_BYTES = 64L << 20;

    private final Config model;
    private final HdfFile weights;
    private final boolean archive;
    private final String kerasVersion;
    private final String backend;

    private KerasFile(Config model, HdfFile weights, boolean archive, String kerasVersion, String backend) {
        this.model = model;
        this.weights = weights;
        this.archive = archive;
        this.kerasVersion = kerasVersion;
        this.backend = backend;
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
            refuseForeignEntries(zip, file.getFileName().toString());
            ZipEntry configEntry = zip.getEntry(CONFIG_ENTRY);
            if (configEntry == null) {
                throw new InvalidInputException("not a Keras archive: " + file.getFileName() + " has no "
                        + CONFIG_ENTRY);
            }
            Config config = Config.of(Json.parse(readText(zip, configEntry), CONFIG_ENTRY), CONFIG_ENTRY);
            ZipEntry metadataEntry = zip.getEntry(METADATA_ENTRY);
            String version = null;
            if (metadataEntry != null && Json.parse(readText(zip, metadataEntry), METADATA_ENTRY) instanceof Map<?, ?> m
                    && m.get("keras_version") instanceof String v) {
                version = v;
            }
            ZipEntry weightsEntry = zip.getEntry(WEIGHTS_ENTRY);
            if (weightsEntry == null) {
                return new KerasFile(config, null, true, version, null);
            }
            Path copy = scratch.resolve(WEIGHTS_ENTRY);
            try (InputStream in = zip.getInputStream(weightsEntry)) {
                Files.copy(in, copy, StandardCopyOption.REPLACE_EXISTING);
            }
            if (!isHdf5(copy)) {
                throw new InvalidInputException("Keras archive " + file.getFileName() + ": " + WEIGHTS_ENTRY
                        + " is not an HDF5 file");
            }
            return new KerasFile(config, openHdf(copy, WEIGHTS_ENTRY), true, version, null);
        } catch (java.util.zip.ZipException e) {
            throw new InvalidInputException("not a readable Keras archive: " + file.getFileName() + " ("
                    + e.getMessage() + ")", e);
        }
    }

    /**
     * Keras writes exactly config.json, metadata.json and model.weights.h5 (and an assets folder for layers
     * with vocabularies, none of which convert). Anything else may be a pickle or code meant to run on
     * load; it is refused by its name, unread.
     */
    private static void refuseForeignEntries(ZipFile zip, String file) {
        var entries = zip.entries();
        while (entries.hasMoreElements()) {
            String name = entries.nextElement().getName();
            if (name.equals(CONFIG_ENTRY) || name.equals(METADATA_ENTRY) || name.equals(WEIGHTS_ENTRY)) {
                continue;
            }
            String lower = name.toLowerCase(java.util.Locale.ROOT);
            String why;
            if (name.equals("model.weights.json") || lower.matches("model_\\d+\\.weights\\.h5")) {
                why = "keeps its weights in shards, which are not supported";
            } else if (lower.endsWith(".pkl") || lower.endsWith(".pickle") || lower.endsWith(".joblib")) {
                why = "holds a pickle ('" + name + "'), which can run code when loaded: refused unread";
            } else if (lower.endsWith(".py") || lower.endsWith(".pyc")) {
                why = "holds Python code ('" + name + "'): refused unread";
            } else if (name.startsWith("assets/")) {
                why = "holds assets ('" + name + "') of layers such as vocabularies, which are not supported";
            } else {
                why = "holds '" + name + "', which is not part of a Keras model (" + CONFIG_ENTRY + ", "
                        + METADATA_ENTRY + ", " + WEIGHTS_ENTRY + "): refused unread";
            }
            throw new InvalidInputException("Keras archive " + file + " " + why);
        }
    }

    private static String readText(ZipFile zip, ZipEntry entry) throws IOException {
        try (InputStream in = zip.getInputStream(entry)) {
            byte[] bytes = in.readNBytes((int) MAX_CONFIG_BYTES + 1);
            if (bytes.length > MAX_CONFIG_BYTES) {
                throw new InvalidInputException(entry.getName() + " is larger than " + (MAX_CONFIG_BYTES >> 20)
                        + " MiB: not a Keras configuration");
            }
            return new String(bytes, StandardCharsets.UTF_8);
        }
    }

    private static boolean isHdf5(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            byte[] head = in.readNBytes(4);
            return head.length == 4 && (head[0] & 0xff) == 0x89 && head[1] == 'H' && head[2] == 'D' && head[3] == 'F';
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
            String version = optionalText(hdf.getAttribute("keras_version"));
            String backend = optionalText(hdf.getAttribute("backend"));
            if (hdf.getChild("model_weights") instanceof Group group) {
                // Keras 2 reads the weights' own attributes; Keras 1 wrote none there.
                version = version != null ? version : optionalText(group.getAttribute("keras_version"));
                backend = backend != null ? backend : optionalText(group.getAttribute("backend"));
            }
            return new KerasFile(Config.of(Json.parse(json, "model_config"), "model_config"), hdf, false, version,
                    backend);
        } catch (RuntimeException e) {
            hdf.close();
            throw e instanceof HdfException ? unreadable(file.getFileName().toString(), e) : e;
        }
    }

    private static String optionalText(Attribute attribute) {
        if (attribute == null) {
            return null;
        }
        List<String> values = strings(attribute.getData());
        return values.size() == 1 ? values.get(0) : null;
    }

    private static HdfFile openHdf(Path file, String name) {
        try {
            return new HdfFile(file);
        } catch (HdfException e) {
            throw unreadable(name, e);
        }
    }

    /** The top-level configuration: {@code {"class_name": ..., "config": ...}}. */
    Config model() {
        return model;
    }

    /** Whether the weights follow the Keras 3 archive layout. */
    boolean isArchive() {
        return archive;
    }

    /**
     * The major Keras version that wrote the file: the {@code keras_version} it records, else 1 (as Keras
     * 2 itself assumes for files without one); 3 for an archive without metadata.
     */
    int kerasMajor() {
        if (kerasVersion == null) {
            return archive ? 3 : 1;
        }
        int end = 0;
        while (end < kerasVersion.length() && Character.isDigit(kerasVersion.charAt(end))) {
            end++;
        }
        return end == 0 ? 2 : Integer.parseInt(kerasVersion.substring(0, Math.min(end, 3)));
    }

    /** The recorded Keras version, or null. */
    String kerasVersion() {
        return kerasVersion;
    }

    /** The backend that trained the weights ({@code tensorflow}, {@code theano}, ...), or null if not recorded. */
    String backend() {
        return backend;
    }

    /**
     * The weights of a layer in an HDF5 file, in the order Keras saved them (for most layers: kernel, then
     * bias): the datasets that attribute {@code weight_names} of {@code model_weights/<group>} lists. A
     * layer nested in a model layer shares that model's group; {@code nestedLayer} then picks its weights
     * by name (Keras 2 and 3 name them {@code .../<layer>/kernel:0}, Keras 1 {@code <layer>_W}).
     *
     * @param nestedLayer the nested layer's name, or null for all the group's weights
     */
    List<Tensor> hdf5Weights(String group, String nestedLayer) {
        if (weights == null || archive) {
            return List.of();
        }
        try {
            Node root = weights.getChild("model_weights");
            Group parent = root instanceof Group ? (Group) root : weights;
            Node layer = parent.getChild(group);
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
                if (nestedLayer == null || belongsTo(weightName, nestedLayer)) {
                    out.add(tensor(((Group) layer).getByPath(weightName), weightName));
                }
            }
            return out;
        } catch (HdfException e) {
            throw unreadable("the weights of layer '" + (nestedLayer != null ? nestedLayer : group) + "'", e);
        }
    }

    private static boolean belongsTo(String weightName, String layer) {
        List<String> parts = List.of(weightName.split("/"));
        return parts.subList(0, parts.size() - 1).contains(layer) || parts.get(parts.size() - 1).startsWith(layer + "_");
    }

    /** Whether the HDF5 file has a weight group for {@code group}. */
    boolean hasHdf5Group(String group) {
        if (weights == null || archive) {
            return false;
        }
        Node root = weights.getChild("model_weights");
        return (root instanceof Group ? (Group) root : weights).getChild(group) instanceof Group;
    }

    /**
     * The variables of one object in a Keras 3 archive, {@code <path>/vars/0, 1, ...}; empty if it has none.
     *
     * @param owner the layer the variables must belong to, by the name Keras records, or null not to check
     */
    List<Tensor> archiveWeights(String path, String owner) {
        if (weights == null || !archive) {
            return List.of();
        }
        try {
            Node vars = find(path + "/vars");
            if (vars == null && path.startsWith("layers/")) {
                vars = find("_layer_checkpoint_dependencies/" + path.substring(7) + "/vars"); // files of Keras 2.13
            }
            if (!(vars instanceof Group)) {
                return List.of();
            }
            Attribute recorded = vars.getAttribute("name");
            if (owner != null && recorded != null && !owner.equals(text(recorded.getData(), "name"))) {
                throw new InvalidInputException("the weights at " + path + " belong to layer '"
                        + text(recorded.getData(), "name") + "', not '" + owner + "'");
            }
            Map<Integer, Node> byIndex = new TreeMap<>();
            for (Map.Entry<String, Node> child : ((Group) vars).getChildren().entrySet()) {
                try {
                    byIndex.put(Integer.parseInt(child.getKey()), child.getValue());
                } catch (NumberFormatException e) {
                    throw new InvalidInputException("unexpected weight '" + child.getKey() + "' in " + path);
                }
            }
            List<Tensor> out = new ArrayList<>();
            for (Map.Entry<Integer, Node> entry : byIndex.entrySet()) {
                out.add(tensor(entry.getValue(), path + "/vars/" + entry.getKey()));
            }
            return out;
        } catch (HdfException e) {
            throw unreadable("the weights at " + path, e);
        }
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
