package io.modelrefinery.plugin.tflite;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.plugin.fp16.Fp16Transform;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.HarnessResult;
import io.modelrefinery.testkit.ModelOutputs;
import io.modelrefinery.testkit.PluginHarness;
import io.modelrefinery.testkit.SampleData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static io.modelrefinery.testkit.ModelOutputs.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** TFLite fixtures (written by src/test/fixtures/make_tflite_fixtures.py) converted and run in ONNX Runtime. */
class TfliteToOnnxTransformTest {
    private static final Path FIXTURES = Path.of("src/test/fixtures");

    @TempDir
    Path dir;

    private HarnessResult run(String pipeline, Path file) {
        return PluginHarness.of(new TfliteToOnnxTransform(), new Fp16Transform())
                .run(pipeline, ModelArtifact.file(file, ModelFormat.TFLITE), dir);
    }

    private OnnxModel convert(String fixture) {
        return run("tflite-to-onnx", FIXTURES.resolve(fixture)).output().onnxModel();
    }

    private Map<String, Tensor> predict(OnnxModel model, Map<String, Tensor> feeds) {
        return ModelOutputs.run(PluginHarness.inference(dir), model, feeds);
    }

    private static Map<String, Tensor> reference(String name) {
        return SampleData.arrays(FIXTURES.resolve(name));
    }

    private static long count(OnnxModel model, String opType) {
        return model.graph().getNodeList().stream().map(NodeProto::getOpType).filter(opType::equals).count();
    }

    @Test
    void theFloatSeedCnnMatchesItsReferenceAndTheOnnxSample() throws Exception {
        Map<String, Tensor> reference = reference("seed_cnn_reference.npz");
        Tensor images = reference.get("input");

        OnnxModel model = convert("seed_cnn.tflite");
        float[] actual = predict(model, Map.of("input", images)).get("output").toFloatArray();

        assertArrayEquals(new long[] {-1, 28, 28}, OnnxHelper.shape(model.graph().getInput(0)).orElseThrow());
        assertEquals(0, count(model, "Transpose"), model.graph().getNodeList().toString());
        double vsReference = maxAbsDiff(reference.get("output").toFloatArray(), actual);
        assertTrue(vsReference < 1e-4, "max difference to the NumPy reference " + vsReference);
        float[] sample = predict(ConformanceModels.sampleCnn(), Map.of("input", images)).get("output").toFloatArray();
        assertTrue(maxAbsDiff(sample, actual) < 1e-5, "max difference to the ONNX sample " + maxAbsDiff(sample, actual));
    }

    @Test
    void theInt8SeedCnnKeepsItsQuantizedNumbers() {
        Map<String, Tensor> reference = reference("seed_cnn_int8_reference.npz");

        HarnessResult result = run("tflite-to-onnx", FIXTURES.resolve("seed_cnn_int8.tflite"));
        OnnxModel model = result.output().onnxModel();
        float[] actual = predict(model, Map.of("input", reference.get("input"))).get("output").toFloatArray();

        // Weights stay int8 behind DequantizeLinear; every int8 activation is a QuantizeLinear/DequantizeLinear pair.
        assertTrue(model.graph().getInitializerList().stream().anyMatch(t -> t.getDataType() == DataType.INT8.code()));
        assertEquals(count(model, "QuantizeLinear"), result.steps().get(0).metrics().get("quantized-tensors"));
        double diff = maxAbsDiff(reference.get("output").toFloatArray(), actual);
        assertTrue(diff <= 1 / 256.0 + 1e-6, "at most one step of the output's scale apart: " + diff);
    }

    @Test
    void everySupportedOperatorMatchesTheReference() {
        Map<String, Tensor> reference = reference("zoo_reference.npz");

        OnnxModel model = convert("zoo.tflite");
        Map<String, Tensor> outputs = predict(model, Map.of("image", reference.get("image")));

        for (String output : List.of("probabilities", "score")) {
            double diff = maxAbsDiff(reference.get(output).toFloatArray(), outputs.get(output).toFloatArray());
            assertTrue(diff < 1e-4, output + ": max difference to the NumPy reference " + diff);
        }
        assertEquals(1, count(model, "Transpose"), model.graph().getNodeList().toString());
    }

    @Test
    void anInt8ModelKeepsInt8InputsAndOutputsAndItsNumbers() {
        Map<String, Tensor> reference = reference("zoo_int8_reference.npz");

        OnnxModel model = convert("zoo_int8.tflite");
        Map<String, Tensor> outputs = predict(model, Map.of("image", reference.get("image")));

        assertEquals(DataType.INT8, OnnxHelper.elementType(model.graph().getInput(0)).orElseThrow());
        for (String output : List.of("probabilities", "score")) {
            assertEquals(DataType.INT8, outputs.get(output).type());
            long[] expected = reference.get(output).toLongArray();
            long[] actual = outputs.get(output).toLongArray();
            for (int i = 0; i < expected.length; i++) {
                assertTrue(Math.abs(expected[i] - actual[i]) <= 1, output + " " + Arrays.toString(expected) + " against "
                        + Arrays.toString(actual));
            }
        }
    }

    @Test
    void aTfliteModelGoesThroughTheConverterBeforeTheCompressor() {
        Map<String, Tensor> reference = reference("seed_cnn_reference.npz");

        HarnessResult result = run("fp16", FIXTURES.resolve("seed_cnn.tflite"));
        float[] actual = predict(result.output().onnxModel(), Map.of("input", reference.get("input")))
                .get("output").toFloatArray();

        assertEquals(List.of("tflite-to-onnx", "fp16"), result.steps().stream().map(StepRecord::transform).toList());
        assertTrue(maxAbsDiff(reference.get("output").toFloatArray(), actual) < 2e-3);
    }

    @Test
    void unknownOperatorsAreRefusedWithTheirPlace() {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> convert("lstm.tflite"));

        assertEquals("step 1 'tflite-to-onnx': operator 2 of 2 (LSTM, output 'lstm'): unsupported operator LSTM",
                e.getMessage());
    }

    @Test
    void filesThatAreNoTfliteModelAreRefused() throws Exception {
        Path text = Files.writeString(dir.resolve("model.tflite"), "not a flatbuffer at all");
        Path truncated = Files.write(dir.resolve("cut.tflite"),
                Arrays.copyOf(Files.readAllBytes(FIXTURES.resolve("zoo.tflite")), 200));

        assertEquals("step 1 'tflite-to-onnx': not a TFLite model: model.tflite lacks the TFL3 file identifier",
                assertThrows(InvalidInputException.class, () -> run("tflite-to-onnx", text)).getMessage());
        assertTrue(assertThrows(InvalidInputException.class, () -> run("tflite-to-onnx", truncated)).getMessage()
                .startsWith("step 1 'tflite-to-onnx': not a readable TFLite model: cut.tflite"));
    }
}
