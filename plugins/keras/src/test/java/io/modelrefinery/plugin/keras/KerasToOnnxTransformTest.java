package io.modelrefinery.plugin.keras;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;
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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static io.modelrefinery.testkit.ModelOutputs.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Keras fixtures (written by src/test/fixtures/make_keras_fixtures.py) converted and run in ONNX Runtime. */
class KerasToOnnxTransformTest {
    private static final Path FIXTURES = Path.of("src/test/fixtures");

    @TempDir
    Path dir;

    private OnnxModel convert(String fixture) {
        return run("keras-to-onnx", fixture).output().onnxModel();
    }

    private HarnessResult run(String pipeline, String fixture) {
        return PluginHarness.of(new KerasToOnnxTransform(), new Fp16Transform())
                .run(pipeline, ModelArtifact.file(FIXTURES.resolve(fixture), ModelFormat.KERAS), dir);
    }

    private Map<String, Tensor> predict(OnnxModel model, Map<String, Tensor> feeds) {
        return ModelOutputs.run(PluginHarness.inference(dir), model, feeds);
    }

    private static List<String> opTypes(OnnxModel model) {
        return model.graph().getNodeList().stream().map(NodeProto::getOpType).toList();
    }

    private static long[] shape(ValueInfoProto info) {
        return OnnxHelper.shape(info).orElseThrow();
    }

    @ParameterizedTest
    @ValueSource(strings = {"seed_cnn.h5", "seed_cnn.keras"})
    void theSeedCnnMatchesItsReferenceAndTheOnnxSampleWithoutATranspose(String fixture) throws Exception {
        Map<String, Tensor> reference = SampleData.arrays(FIXTURES.resolve("seed_cnn_reference.npz"));
        Tensor images = reference.get("input");

        OnnxModel model = convert(fixture);
        float[] actual = predict(model, Map.of("input", images)).get("output").toFloatArray();

        assertEquals(List.of("Reshape", "Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Flatten", "Gemm",
                "Sigmoid"), opTypes(model));
        assertArrayEquals(new long[] {-1, 28, 28}, shape(model.graph().getInput(0)));
        assertEquals("output", model.graph().getOutput(0).getName());
        assertArrayEquals(new long[] {-1, 1}, shape(model.graph().getOutput(0)));
        double vsReference = maxAbsDiff(reference.get("output").toFloatArray(), actual);
        assertTrue(vsReference < 1e-4, "max difference to the NumPy reference " + vsReference);
        float[] sample = predict(ConformanceModels.sampleCnn(), Map.of("input", images)).get("output").toFloatArray();
        assertTrue(maxAbsDiff(sample, actual) < 1e-5, "max difference to the ONNX sample " + maxAbsDiff(sample, actual));
    }

    @ParameterizedTest
    @ValueSource(strings = {"zoo.keras", "zoo_legacy.h5"})
    void everySupportedLayerKindMatchesTheReference(String fixture) {
        Map<String, Tensor> reference = SampleData.arrays(FIXTURES.resolve("zoo_reference.npz"));

        HarnessResult result = run("keras-to-onnx", fixture);
        OnnxModel model = result.output().onnxModel();
        Map<String, Tensor> outputs = predict(model, Map.of("image", reference.get("image")));

        for (String output : List.of("probabilities", "score_elu")) {
            double diff = maxAbsDiff(reference.get(output).toFloatArray(), outputs.get(output).toFloatArray());
            assertTrue(diff < 1e-4, output + ": max difference to the NumPy reference " + diff);
        }
        assertArrayEquals(new long[] {-1, 12, 12, 3}, shape(model.graph().getInput(0)));
        assertEquals(List.of("probabilities", "score_elu"),
                model.graph().getOutputList().stream().map(ValueInfoProto::getName).toList());
        // The input goes channels-first once; the flatten before the dense layers costs nothing.
        assertEquals(1, opTypes(model).stream().filter(op -> op.equals("Transpose")).count(), opTypes(model).toString());
        assertEquals(27.0, result.steps().get(0).metrics().get("layers")); // all but the input
    }

    @Test
    void aKerasModelGoesThroughTheConverterBeforeTheCompressor() {
        Map<String, Tensor> reference = SampleData.arrays(FIXTURES.resolve("seed_cnn_reference.npz"));

        HarnessResult result = run("fp16", "seed_cnn.keras");
        float[] actual = predict(result.output().onnxModel(), Map.of("input", reference.get("input")))
                .get("output").toFloatArray();

        assertEquals(List.of("keras-to-onnx", "fp16"), result.steps().stream().map(StepRecord::transform).toList());
        assertTrue(maxAbsDiff(reference.get("output").toFloatArray(), actual) < 2e-3);
    }

    private String refusal(String fixture) {
        return assertThrows(InvalidInputException.class, () -> convert(fixture)).getMessage();
    }

    @Test
    void lambdaLayersAreRefusedWithTheirPlace() {
        assertEquals("step 1 'keras-to-onnx': layer 'double' (Lambda, layer 3 of 3): Lambda layers hold Python code, "
                + "which is refused and never run; rebuild the model with built-in layers", refusal("lambda.h5"));
    }

    @Test
    void customClassesAreRefused() {
        assertEquals("step 1 'keras-to-onnx': layer 'dense' (Dense, layer 2 of 2): custom Dense class "
                + "('my_package>ScaledDense') is refused: custom objects are Python code, which is never run",
                refusal("custom_layer.keras"));
    }

    @Test
    void unknownLayersAreRefusedWithTheirPlace() {
        assertEquals("step 1 'keras-to-onnx': layer 'conv2d_transpose' (Conv2DTranspose, layer 2 of 2): unsupported "
                + "layer class Conv2DTranspose", refusal("conv_transpose.keras"));
    }

    /**
     * Models as each Keras version wrote them (make_keras_fixtures.py, keras_versions.py): every output
     * matches the NumPy reference, and the inputs keep the names Keras gave them.
     */
    @ParameterizedTest
    @ValueSource(strings = {"keras1_cnn_th.h5", "keras1_functional_rnn.h5", "keras2_theano_list.h5", "keras2_rnn.h5",
            "keras2_conv1d.h5", "keras2_nested.h5", "keras2_volumes.h5", "keras3_model.keras", "keras3_model.h5",
            "keras3_masking.keras"})
    void everyKerasVersionsLayoutMatchesTheReference(String fixture) {
        String stem = fixture.substring(0, fixture.lastIndexOf('.'));
        Map<String, Tensor> reference = SampleData.arrays(FIXTURES.resolve(stem + "_reference.npz"));
        OnnxModel model = convert(fixture);
        List<String> inputs = model.graph().getInputList().stream().map(ValueInfoProto::getName).toList();
        List<String> outputs = model.graph().getOutputList().stream().map(ValueInfoProto::getName).toList();

        Map<String, Tensor> feeds = new java.util.LinkedHashMap<>();
        inputs.forEach(name -> feeds.put(name, reference.get(name)));
        assertTrue(feeds.values().stream().allMatch(java.util.Objects::nonNull), "inputs " + inputs + " vs reference "
                + reference.keySet());
        Map<String, Tensor> actual = predict(model, feeds);

        assertEquals(reference.keySet().stream().filter(k -> !inputs.contains(k)).sorted().toList(),
                outputs.stream().sorted().toList());
        for (String output : outputs) {
            double diff = maxAbsDiff(reference.get(output).toFloatArray(), actual.get(output).toFloatArray());
            assertTrue(diff < 1e-4, fixture + " " + output + ": max difference to the NumPy reference " + diff);
        }
    }

    @Test
    void aSequentialModelKeepsTheInputNameKerasGaveIt() {
        OnnxModel model = convert("keras1_cnn_th.h5");

        assertEquals("convolution2d_1_input", model.graph().getInput(0).getName());
        assertArrayEquals(new long[] {-1, 2, 8, 8}, shape(model.graph().getInput(0)));
    }

    @Test
    void theStepNotesWhichKerasWroteTheFile() {
        assertEquals(List.of("written by Keras 1.2.2 (HDF5)"), run("keras-to-onnx", "keras1_cnn_th.h5").steps().get(0)
                .notes());
        assertEquals(List.of("written by Keras 2.1.6 (HDF5, backend theano)"),
                run("keras-to-onnx", "keras2_theano_list.h5").steps().get(0).notes());
    }

    @Test
    void aChannelsFirstModelRunsWithoutATranspose() {
        // Theano-ordered data stays channels first from the input to the Flatten before the dense layers.
        assertEquals(0, opTypes(convert("keras1_cnn_th.h5")).stream().filter(op -> op.equals("Transpose")).count());
    }

    @Test
    void recurrentLayersBecomeOnnxRecurrentOperators() {
        List<String> ops = opTypes(convert("keras2_rnn.h5"));

        assertEquals(2, ops.stream().filter(op -> op.equals("LSTM")).count(), ops.toString());
        assertEquals(2, ops.stream().filter(op -> op.equals("GRU")).count(), ops.toString());
        assertEquals(1, ops.stream().filter(op -> op.equals("RNN")).count(), ops.toString());
    }

    @Test
    void anRnnReadingAMaskIsRefused() {
        assertEquals("step 1 'keras-to-onnx': layer 'lstm' (LSTM, layer 3 of 3): it reads the mask of layer "
                + "'embedding' (Embedding, layer 2 of 3): masked time steps are not supported (rebuild the model "
                + "without mask_zero/Masking, or with fixed-length inputs)", refusal("masked_lstm.h5"));
    }

    @Test
    void weightsOnlyFilesAreRefused() {
        assertEquals("step 1 'keras-to-onnx': weights_only.h5 has no model_config: it holds weights only, not a "
                + "Keras model", refusal("weights_only.h5"));
    }

    @Test
    void aKeras3LambdaIsRefusedWithoutDecodingItsBytecode() {
        assertEquals("step 1 'keras-to-onnx': layer 'lambda' (Lambda, layer 2 of 2): Lambda layers hold Python code, "
                + "which is refused and never run; rebuild the model with built-in layers", refusal("lambda3.keras"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"model.pkl", "custom.py", "notes.txt"})
    void anArchiveWithOtherEntriesIsRefusedUnread(String entry) throws Exception {
        Path archive = dir.resolve("extra.keras");
        try (var in = new java.util.zip.ZipInputStream(Files.newInputStream(FIXTURES.resolve("seed_cnn.keras")));
             var out = new java.util.zip.ZipOutputStream(Files.newOutputStream(archive))) {
            for (var e = in.getNextEntry(); e != null; e = in.getNextEntry()) {
                out.putNextEntry(new java.util.zip.ZipEntry(e.getName()));
                in.transferTo(out);
            }
            out.putNextEntry(new java.util.zip.ZipEntry(entry));
            out.write(new byte[] {(byte) 0x80, 4, 'K', '.'}); // a pickle's first bytes: never read
        }
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> PluginHarness.of(new KerasToOnnxTransform())
                .run("keras-to-onnx", ModelArtifact.file(archive, ModelFormat.KERAS), dir));

        String why = switch (entry) {
            case "model.pkl" -> "holds a pickle ('model.pkl'), which can run code when loaded: refused unread";
            case "custom.py" -> "holds Python code ('custom.py'): refused unread";
            default -> "holds 'notes.txt', which is not part of a Keras model (config.json, metadata.json, "
                    + "model.weights.h5): refused unread";
        };
        assertEquals("step 1 'keras-to-onnx': Keras archive extra.keras " + why, e.getMessage());
    }

    @Test
    void filesThatAreNoKerasModelAreRefused() throws Exception {
        Path text = Files.writeString(dir.resolve("model.h5"), "not a model");
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> PluginHarness.of(new KerasToOnnxTransform())
                .run("keras-to-onnx", ModelArtifact.file(text, ModelFormat.KERAS), dir));

        assertEquals("step 1 'keras-to-onnx': not a Keras model: model.h5 is neither an HDF5 file (.h5) nor a Keras "
                + "archive (.keras)", e.getMessage());
    }

    @Test
    void snakeCaseFollowsKeras() {
        assertEquals("conv2d", KerasConverter.snakeCase("Conv2D"));
        assertEquals("depthwise_conv2d", KerasConverter.snakeCase("DepthwiseConv2D"));
        assertEquals("batch_normalization", KerasConverter.snakeCase("BatchNormalization"));
        assertEquals("global_average_pooling2d", KerasConverter.snakeCase("GlobalAveragePooling2D"));
        assertEquals("re_lu", KerasConverter.snakeCase("ReLU"));
    }

    @Test
    void jsonReadsWhatPythonWrites() {
        Object json = Json.parse("{\"a\": [1, -2.5e3, NaN, -Infinity, null, true], \"b\\u00e9\": \"x\\ny\"}", "test");

        assertEquals(Map.of("a", java.util.Arrays.asList(1L, -2500.0, Double.NaN, Double.NEGATIVE_INFINITY, null, true),
                "b\u00e9", "x\ny"), json);
        assertEquals("test is not valid JSON: expected ':' at character 6",
                assertThrows(InvalidInputException.class, () -> Json.parse("{\"a\" 1}", "test")).getMessage());
    }
}
