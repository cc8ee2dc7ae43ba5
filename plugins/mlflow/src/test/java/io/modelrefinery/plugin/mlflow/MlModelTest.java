package io.modelrefinery.plugin.mlflow;

import io.modelrefinery.api.InvalidInputException;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** MLmodel files as MLflow's flavors write them, and the file each names. */
class MlModelTest {
    private static MlModel parse(String yaml) {
        return MlModel.parse(yaml.getBytes(StandardCharsets.UTF_8), "m");
    }

    @Test
    void theOnnxFlavorOfTheFixtureNamesItsDataFile() {
        MlModel model = MlModel.parse(MlflowFixtures.onnxModelFiles().get("MLmodel"), "m");

        assertEquals(new MlModel.ModelFile("model.onnx", "onnx"), model.modelFile("m", null));
    }

    @Test
    void tfKerasSavedAsH5IsReadAndASavedModelOrAnExportedKeras3ArchiveIsNot() {
        // mlflow.tensorflow.log_model of a tf.keras model under MLflow 2 (keras_model_kwargs save_format="h5").
        String h5 = "flavors:\n  python_function:\n    data: data\n    env:\n      conda: conda.yaml\n"
                + "    loader_module: mlflow.tensorflow\n  tensorflow:\n    code: null\n    data: data\n"
                + "    keras_version: 2.12.0\n    model_type: keras\n    save_format: h5\nmlflow_version: 2.9.2\n";
        String savedModel = h5.replace("save_format: h5", "save_format: tf");
        String exported = "flavors:\n  keras:\n    data: data\n    keras_backend: tensorflow\n    keras_version: 3.6.0\n"
                + "    save_exported_model: true\n";

        assertEquals(new MlModel.ModelFile("data/model.h5", "keras"), parse(h5).modelFile("m", null));
        assertEquals("the tf.keras model m is a TensorFlow SavedModel (save_format tf); the refinery reads .keras and .h5 files",
                assertThrows(InvalidInputException.class, () -> parse(savedModel).modelFile("m", null)).getMessage());
        assertEquals("the Keras model m was saved as an exported TensorFlow archive (save_exported_model=True); the "
                + "refinery reads .keras and .h5 files", assertThrows(InvalidInputException.class,
                () -> parse(exported).modelFile("m", null)).getMessage());
    }

    @Test
    void aFileThatIsNoMlmodelIsRefused() {
        assertEquals("the MLmodel file of m lists no flavors",
                assertThrows(InvalidInputException.class, () -> parse("artifact_path: model\n")).getMessage());
    }
}
