package io.modelrefinery.distribution;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static io.modelrefinery.host.testing.TestModels.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Keras and TFLite models through {@code refinery optimize} from the assembled distribution: the format is
 * inferred from the file, the host adds the converter before the pipeline, and the converter bundles (with
 * their embedded libraries) resolve in the real plugin framework.
 */
class ConvertersIT {
    private static final Path PLUGINS = TestModels.root().resolve("plugins");

    @TempDir
    Path dir;

    private float[] predict(Path model, Tensor images) throws Exception {
        try (InferenceSession session = new OrtRuntime().service(Device.CPU, dir.resolve("ort"))
                .open(OnnxModel.load(model))) {
            return session.run(Map.of("input", images)).get("output").toFloatArray();
        }
    }

    @ParameterizedTest
    @CsvSource({
            "keras/src/test/fixtures/seed_cnn.h5, keras, keras-to-onnx 1.0.0",
            "keras/src/test/fixtures/seed_cnn.keras, keras, keras-to-onnx 1.0.0",
            "tflite/src/test/fixtures/seed_cnn.tflite, tflite, tflite-to-onnx 1.0.1",
    })
    void theSeedCnnInEachFormatIsConvertedThenCompressedInOneCall(String fixture, String format, String converterAndVersion)
            throws Exception {
        String converter = converterAndVersion.split(" ")[0];
        Path model = PLUGINS.resolve(fixture);
        Path out = dir.resolve("out.onnx");
        Path report = dir.resolve("report.json");

        Cli.Result result = Cli.run(dir, "optimize", model.toString(), "-o", out.toString(), "--pipeline", "fp16", "--gate", "max-latency-ratio=2",
                "--report", report.toString());

        assertEquals(0, result.exitCode(), result.stderr());
        assertFalse(result.stderr().contains("WARN"), result.stderr());
        JsonNode json = new ObjectMapper().readTree(report.toFile());
        assertEquals(List.of(converter, "fp16"), json.get("steps").findValuesAsText("transform"));
        assertEquals("fp16", json.get("pipeline").asText());
        assertEquals("converted the " + format + " model with " + converterAndVersion + " before the pipeline",
                json.at("/notes/0").asText());
        assertEquals(Files.size(model), json.at("/input/bytes").asLong());
        assertEquals(3_337 + 4, json.at("/output/params").asLong()); // the sample's weights and the Reshape's shape
        Map<String, Tensor> reference = TestModels.arrays(model.resolveSibling("seed_cnn_reference.npz"));
        float[] actual = predict(out, reference.get("input"));
        assertTrue(maxAbsDiff(reference.get("output").toFloatArray(), actual) < 2e-3);
        float[] sample = predict(TestModels.sampleCnnFile(), reference.get("input"));
        assertTrue(maxAbsDiff(sample, actual) < 2e-3);
    }

    @Test
    void aKerasModelIsConvertedThenQuantizedInOneCall() throws Exception {
        Path model = PLUGINS.resolve("keras/src/test/fixtures/seed_cnn.h5");
        Path out = dir.resolve("int8.onnx");
        Path report = dir.resolve("report.json");

        Cli.Result result = Cli.run(dir, "optimize", model.toString(), "-o", out.toString(), "--pipeline",
                "quantize-dynamic", "--gate", "max-latency-ratio=3", "--report", report.toString());

        assertEquals(0, result.exitCode(), result.stderr());
        JsonNode json = new ObjectMapper().readTree(report.toFile());
        assertEquals(List.of("keras-to-onnx", "quantize-dynamic"), json.get("steps").findValuesAsText("transform"));
        assertTrue(Files.size(out) < 8_000, Files.size(out) + " bytes");
        Map<String, Tensor> reference = TestModels.arrays(model.resolveSibling("seed_cnn_reference.npz"));
        assertTrue(maxAbsDiff(reference.get("output").toFloatArray(), predict(out, reference.get("input"))) < 0.05);
    }

    private String out() {
        return dir.resolve("refused.onnx").toString();
    }

    /** Bad input: exit code 2, and the last line on stderr (after the step's progress) names the problem. */
    private void assertRefused(String expectedError, String... args) throws Exception {
        Cli.Result result = Cli.run(dir, args);

        assertEquals(2, result.exitCode(), result.stderr());
        List<String> lines = result.stderrLines();
        assertTrue(lines.get(lines.size() - 1).startsWith(expectedError), result.stderr());
        assertEquals("", result.stdout());
    }

    @Test
    void aLambdaLayerIsRefusedWithItsPlace() throws Exception {
        assertRefused("error: step 1 'keras-to-onnx': layer 'double' (Lambda, layer 3 of 3): Lambda layers hold "
                + "Python code, which is refused and never run", "optimize",
                PLUGINS.resolve("keras/src/test/fixtures/lambda.h5").toString(), "-o", out());
    }

    @Test
    void theFormatOptionOverridesWhatTheFileLooksLike() throws Exception {
        Path keras = PLUGINS.resolve("keras/src/test/fixtures/seed_cnn.keras");

        assertRefused("error: not an ONNX model: " + keras, "optimize", keras.toString(), "-o", out(), "--format", "onnx");
        assertRefused("error: step 1 'tflite-to-onnx': not a TFLite model: seed_cnn.keras lacks the TFL3 file "
                + "identifier", "optimize", keras.toString(), "-o", out(), "--format", "tflite");
    }
}
