package io.modelrefinery.plugin.mlflow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.modelrefinery.api.InvalidInputException;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * What an MLflow model's {@code MLmodel} file says about where its weights are, for the flavors the
 * refinery reads:
 * <ul>
 *   <li>{@code onnx}: {@code data} is the ONNX file ({@code model.onnx}); its external data, when
 *   {@code mlflow.onnx.save_model} wrote some, lies next to it;</li>
 *   <li>{@code keras} (Keras 3): {@code data/model.keras} unless {@code save_exported_model} is true;</li>
 *   <li>{@code tensorflow} with {@code model_type: keras} and {@code save_format: h5} (tf.keras under MLflow 2):
 *   {@code data/model.h5};</li>
 *   <li>a model of other flavors whose folder holds one {@code .tflite} file (TFLite has no MLflow flavor;
 *   such models are logged as artifacts of a {@code python_function} model).</li>
 * </ul>
 * Any other model is refused with the flavors it has.
 */
final class MlModel {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    /** A file of the model and its format, {@code path} relative to the model's folder. */
    record ModelFile(String path, String format) {
    }

    private final JsonNode flavors;

    private MlModel(JsonNode flavors) {
        this.flavors = flavors;
    }

    static MlModel parse(byte[] yaml, String where) {
        JsonNode root;
        try {
            root = YAML.readTree(yaml);
        } catch (IOException e) {
            throw new InvalidInputException("the MLmodel file of " + where + " is not YAML: "
                    + MlflowClient.oneLine(String.valueOf(e.getMessage())));
        }
        if (root == null || !root.path("flavors").isObject()) {
            throw new InvalidInputException("the MLmodel file of " + where + " lists no flavors");
        }
        return new MlModel(root.get("flavors"));
    }

    List<String> flavorNames() {
        List<String> names = new ArrayList<>();
        for (Iterator<String> it = flavors.fieldNames(); it.hasNext(); ) {
            names.add(it.next());
        }
        return names;
    }

    /**
     * The model file of a flavor the refinery reads.
     *
     * @param tfliteFile the one {@code .tflite} file in the model's folder, or {@code null}
     * @throws InvalidInputException when no flavor is readable, naming the model's flavors
     */
    ModelFile modelFile(String where, String tfliteFile) {
        JsonNode onnx = flavors.get("onnx");
        if (onnx != null) {
            return new ModelFile(onnx.path("data").asText("model.onnx"), "onnx");
        }
        JsonNode keras = flavors.get("keras");
        if (keras != null) {
            if (keras.path("save_exported_model").asBoolean(false)) {
                throw new InvalidInputException("the Keras model " + where + " was saved as an exported TensorFlow "
                        + "archive (save_exported_model=True); the refinery reads .keras and .h5 files");
            }
            return new ModelFile(keras.path("data").asText("data") + "/model.keras", "keras");
        }
        JsonNode tf = flavors.get("tensorflow");
        if (tf != null && tf.path("model_type").asText("").equals("keras")) {
            if (!tf.path("save_format").asText("tf").equals("h5")) {
                throw new InvalidInputException("the tf.keras model " + where + " is a TensorFlow SavedModel "
                        + "(save_format " + tf.path("save_format").asText("tf") + "); the refinery reads .keras and .h5 files");
            }
            return new ModelFile(tf.path("data").asText("data") + "/model.h5", "keras");
        }
        if (tfliteFile != null) {
            return new ModelFile(tfliteFile, "tflite");
        }
        throw new InvalidInputException("the MLflow model " + where + " has flavors " + String.join(", ", flavorNames())
                + ", none of which the refinery reads (onnx, keras, tf.keras saved as h5, or a .tflite file)");
    }
}
