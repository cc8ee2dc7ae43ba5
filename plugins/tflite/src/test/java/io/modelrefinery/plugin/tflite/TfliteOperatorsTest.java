package io.modelrefinery.plugin.tflite;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Npy;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.testkit.ModelOutputs;
import io.modelrefinery.testkit.PluginHarness;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One small model per operator and configuration (src/test/fixtures/ops, written by
 * make_tflite_op_fixtures.py), converted and run in ONNX Runtime against the outputs ArmNN's TFLite runtime
 * computed for it, or where ArmNN lacks the operator a NumPy transcription of TFLite's kernel (ops/cases.tsv
 * says which). Float outputs agree within 1e-4 (relative above 1); quantized ones within one step.
 */
class TfliteOperatorsTest {
    private static final Path OPS = Path.of("src/test/fixtures/ops");

    private static final java.util.Set<DataType> QUANTIZED = java.util.Set.of(DataType.INT8, DataType.UINT8,
            DataType.INT16);

    @TempDir
    Path dir;

    private OnnxModel convert(Path file) {
        return PluginHarness.of(new TfliteToOnnxTransform())
                .run("tflite-to-onnx", ModelArtifact.file(file, ModelFormat.TFLITE), dir).output().onnxModel();
    }

    private Map<String, Tensor> predict(OnnxModel model, Map<String, Tensor> feeds) {
        return ModelOutputs.run(PluginHarness.inference(dir), model, feeds);
    }

    /** The cases of ops/cases.tsv: name, reference, what it checks. */
    static List<String[]> cases() throws IOException {
        return Files.readAllLines(OPS.resolve("cases.tsv")).stream().filter(l -> !l.startsWith("#") && !l.isBlank())
                .map(l -> l.split("\t")).toList();
    }

    /** Every array of an .npz file, whatever its shape (inputs, outputs of other sizes). */
    private static Map<String, Tensor> npz(Path file) throws IOException {
        Map<String, Tensor> arrays = new LinkedHashMap<>();
        try (ZipInputStream zip = new ZipInputStream(Files.newInputStream(file))) {
            for (ZipEntry entry; (entry = zip.getNextEntry()) != null; ) {
                String name = entry.getName().replaceFirst("\\.npy$", "");
                Npy.Header header = Npy.readHeader(zip, name);
                arrays.put(name, Tensor.of(header.type(), header.shape(), zip.readNBytes((int) header.dataBytes())));
            }
        }
        return arrays;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("caseNames")
    void eachOperatorMatchesTheTfliteRuntime(String name) throws IOException {
        Map<String, Tensor> reference = npz(OPS.resolve(name + "_reference.npz"));
        OnnxModel model = convert(OPS.resolve(name + ".tflite"));
        List<String> inputs = model.graph().getInputList().stream().map(ValueInfoProto::getName).toList();
        Map<String, Tensor> feeds = inputs.stream().collect(Collectors.toMap(n -> n, reference::get));

        Map<String, Tensor> outputs = predict(model, feeds);

        assertEquals(reference.keySet().stream().filter(k -> !inputs.contains(k)).sorted().toList(),
                outputs.keySet().stream().sorted().toList());
        for (Map.Entry<String, Tensor> output : outputs.entrySet()) {
            Tensor expected = reference.get(output.getKey());
            Tensor actual = output.getValue();
            String what = name + " output '" + output.getKey() + "'";
            assertEquals(expected.type(), actual.type(), what);
            assertArrayEquals(expected.shape(), actual.shape(), what);
            double[] e = expected.toDoubleArray();
            double[] a = actual.toDoubleArray();
            // A quantized output may round once differently from TFLite's integer kernels; plain integers
            // (indices, shapes) and booleans must be equal.
            double tolerance = expected.type().kind() == DataType.Kind.FLOAT
                    ? 1e-4 * Math.max(1, Arrays.stream(e).map(Math::abs).max().orElse(0))
                    : QUANTIZED.contains(expected.type()) ? 1 : 0;
            double worst = 0;
            for (int i = 0; i < e.length; i++) {
                worst = Math.max(worst, Math.abs(e[i] - a[i]));
            }
            assertTrue(worst <= tolerance, what + ": max difference " + worst + " to the reference, allowed "
                    + tolerance);
        }
    }

    static List<String> caseNames() throws IOException {
        return cases().stream().map(c -> c[0]).toList();
    }

    @Test
    void theCasesCoverTheOperatorsAndBothReferences() throws IOException {
        List<String[]> cases = cases();
        long armnn = cases.stream().filter(c -> c[1].equals("armnn")).count();

        assertTrue(cases.size() >= 50, cases.size() + " cases");
        assertTrue(armnn >= 20, armnn + " cases checked against ArmNN");
        assertTrue(cases.stream().allMatch(c -> c[1].equals("armnn") || c[1].equals("numpy")));
    }

    @Test
    void nearestNeighbourResizeOfAnNhwcInputNeedsNoTranspose() {
        OnnxModel model = convert(OPS.resolve("resize_nearest_half_pixel.tflite"));

        List<String> ops = model.graph().getNodeList().stream().map(n -> n.getOpType()).toList();
        assertEquals(List.of("Gather", "Gather"), ops);
    }

    @Test
    void aTransposeConvolutionRunsChannelsFirstBetweenTwoLayoutChanges() {
        OnnxModel model = convert(OPS.resolve("transpose_conv_same.tflite"));

        List<String> ops = model.graph().getNodeList().stream().map(n -> n.getOpType()).toList();
        assertEquals(List.of("Transpose", "ConvTranspose", "Transpose"), ops);
    }

    @Test
    void whatOnnxsLstmCannotExpressIsRefusedWithTheOperatorAndItsPlace() {
        InvalidInputException projection = assertThrows(InvalidInputException.class,
                () -> convert(OPS.resolve("refused_lstm_projection.tflite")));
        InvalidInputException coupled = assertThrows(InvalidInputException.class,
                () -> convert(OPS.resolve("refused_lstm_cifg.tflite")));

        assertEquals("step 1 'tflite-to-onnx': operator 1 of 1 (UNIDIRECTIONAL_SEQUENCE_LSTM, output 'y'): an LSTM "
                + "with a projection layer is not supported: ONNX's LSTM has none", projection.getMessage());
        assertEquals("step 1 'tflite-to-onnx': operator 1 of 1 (UNIDIRECTIONAL_SEQUENCE_LSTM, output 'y'): an LSTM "
                + "without input gate (coupled input and forget gates) is not supported", coupled.getMessage());
    }

    /**
     * Bytes of the operator fixtures flipped at random: each file converts or is refused in one line, never
     * worse (a crash, an internal exception, a model ONNX Runtime cannot load). {@code -DargLine=-Dseed=N} tries
     * other corruptions.
     */
    @Test
    void corruptedFilesAreRefusedInOneLineAndNeverCrashTheConverter() throws IOException {
        java.util.Random random = new java.util.Random(Long.getLong("seed", 15));
        int refused = 0;
        for (String name : caseNames()) {
            byte[] original = Files.readAllBytes(OPS.resolve(name + ".tflite"));
            for (int trial = 0; trial < 8; trial++) {
                byte[] bytes = original.clone();
                for (int k = 0; k < 3; k++) { // past the root offset and the file identifier
                    bytes[8 + random.nextInt(bytes.length - 8)] ^= (byte) (1 << random.nextInt(8));
                }
                Path file = Files.write(dir.resolve(name + "_" + trial + ".tflite"), bytes);
                try {
                    convert(file);
                } catch (InvalidInputException e) {
                    refused++;
                    assertTrue(!e.getMessage().contains("\n") && e.getMessage().startsWith("step 1 'tflite-to-onnx': "),
                            name + " trial " + trial + ": " + e.getMessage());
                }
            }
        }
        assertTrue(refused > 0, "no corrupted file was refused");
    }

    @Test
    void anOperatorWithTooFewInputsIsRefusedWithItsPlace() {
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> convert(OPS.resolve("refused_missing_input.tflite")));

        assertEquals("step 1 'tflite-to-onnx': operator 1 of 1 (TRANSPOSE, output 'y'): has 1 inputs, fewer than it "
                + "needs", e.getMessage());
    }
}
