package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.InvalidParamException;
import io.modelrefinery.api.plugin.LayerSensitivity;
import io.modelrefinery.testkit.HarnessResult;
import io.modelrefinery.testkit.PluginHarness;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * quantize-weights on the torch exports of samples/zoo (BERT-style encoder, GPT-2-style decoder): every
 * weight MatMul becomes MatMulNBits and every embedding GatherBlockQuantized, ONNX Runtime runs the result,
 * the outputs stay close to float32, GPTQ's layers lose less than RTN's; and what it refuses, in one line.
 */
class QuantizeWeightsTransformTest {
    private static final Logger LOG = LoggerFactory.getLogger(QuantizeWeightsTransformTest.class);

    @TempDir
    static Path dir;
    private static InferenceService inference;

    @BeforeAll
    static void runtime() {
        inference = PluginHarness.inference(dir.resolve("ort"));
    }

    private static long count(OnnxModel model, String op) {
        return model.graph().getNodeList().stream().map(NodeProto::getOpType).filter(op::equals).count();
    }

    private static long weightMatMuls(OnnxModel model) {
        java.util.Set<String> constants = new java.util.HashSet<>();
        model.graph().getInitializerList().forEach(t -> constants.add(t.getName()));
        return model.graph().getNodeList().stream().filter(n -> n.getOpType().equals("MatMul") || n.getOpType().equals("Gemm"))
                .filter(n -> constants.contains(n.getInput(1))).count();
    }

    /** Runs {@code pipeline}, with {@code calibration} samples unless null. */
    private static HarnessResult run(String pipeline, OnnxModel model, Dataset calibration) {
        PluginHarness harness = PluginHarness.of(new QuantizeWeightsTransform());
        if (calibration != null) {
            harness.data(DataRole.CALIBRATION, calibration);
        }
        return harness.run(pipeline, model, dir);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
            // file | minimal 4-bit RTN output SQNR in dB | largest size ratio
            // (width 32: LayerNorm and biases weigh more than in the real models; bench/weight-quantization.sh)
            "gpt2-op17-dynamic.onnx, 15, 0.25",
            "bert-op17-dynamic.onnx, 15, 0.3",
            "bert-op13-fixed.onnx, 15, 0.3",
    })
    void fourBitWeightsRunInOnnxRuntimeCloseToFloat(String file, double minimalSqnr, double maximalRatio)
            throws Exception {
        OnnxModel model = ZooModels.load(file);
        Dataset calibration = ZooModels.dataset(dir, "calibration", ZooModels.samples(inference, model, 64, 1));
        Dataset eval = ZooModels.dataset(dir, "eval", ZooModels.samples(inference, model, 8, 2));
        long matmuls = weightMatMuls(GraphPreparation.prepare(model).model());

        HarnessResult rtn = run("quantize-weights", model, calibration);
        HarnessResult gptq = run("quantize-weights(method=gptq)", model, calibration);

        OnnxModel quantized = rtn.output().onnxModel();
        assertEquals(matmuls, count(quantized, "MatMulNBits"), "every MatMul and Gemm with a constant weight");
        assertEquals(0, weightMatMuls(quantized), "no float weight product left");
        assertTrue(count(quantized, "GatherBlockQuantized") >= 2, "token and position embeddings");
        double ratio = (double) quantized.toByteArray().length / model.toByteArray().length;
        double rtnSqnr = ZooModels.sqnr(inference, model, quantized, eval);
        double gptqSqnr = ZooModels.sqnr(inference, model, gptq.output().onnxModel(), eval);
        StepRecord rtnStep = rtn.steps().get(0);
        StepRecord gptqStep = gptq.steps().get(0);
        LOG.info("{}: 4-bit RTN SQNR {} dB (worst layer {} dB), GPTQ {} dB (worst layer {} dB), {} of the bytes; notes {}",
                file, String.format("%.1f", rtnSqnr), String.format("%.1f", rtnStep.metrics().get("layer-sqnr-min-db")),
                String.format("%.1f", gptqSqnr), String.format("%.1f", gptqStep.metrics().get("layer-sqnr-min-db")),
                String.format("%.3f", ratio), gptqStep.notes());
        assertTrue(rtnSqnr >= minimalSqnr, file + ": RTN SQNR " + rtnSqnr);
        assertEquals((double) matmuls, rtnStep.metrics().get("quantized-matmuls"));
        double packed = rtnStep.metrics().get("packed-bytes") / rtnStep.metrics().get("float-bytes");
        assertTrue(packed > 0.14 && packed < 0.17, "4 bits and a scale and a 4-bit zero point per 32: " + packed);
        assertTrue(ratio <= maximalRatio, file + ": " + ratio + " of the float file");
        assertTrue(gptqSqnr > rtnSqnr + 0.3, file + ": GPTQ " + gptqSqnr + " dB, RTN " + rtnSqnr + " dB");
        assertTrue(gptqStep.metrics().get("layer-sqnr-min-db") > rtnStep.metrics().get("layer-sqnr-min-db"),
                "the worst layer gains too");
        assertEquals(64.0, gptqStep.metrics().get("calibration-samples"));
        // each quantized product in the api's per-layer form, the worst one the lowest of them
        List<LayerSensitivity.Layer> layers = LayerSensitivity.read(gptqStep.metrics());
        assertEquals(matmuls, layers.size(), gptqStep.metrics().toString());
        assertEquals(layers.get(0).sqnrDb(), gptqStep.metrics().get(LayerSensitivity.WORST_METRIC), 1e-9);
        assertEquals(gptqStep.metrics().get("layer-sqnr-min-db"), gptqStep.metrics().get(LayerSensitivity.WORST_METRIC));
        assertTrue(gptqStep.notes().stream().anyMatch(n -> n.startsWith("output SQNR of MatMul/Gemm layers on 64 "
                + "calibration samples, worst five: ")), gptqStep.notes().toString());
    }

    @Test
    void eightBitsAndHqqAndSymmetricGridsRunToo() throws Exception {
        OnnxModel model = ZooModels.load("gpt2-op17-dynamic.onnx");
        Dataset eval = ZooModels.dataset(dir, "eval", ZooModels.samples(inference, model, 8, 2));
        double rtn4 = ZooModels.sqnr(inference, model, run("quantize-weights", model, null).output().onnxModel(), eval);
        double rtn8 = ZooModels.sqnr(inference, model, run("quantize-weights(bits=8)", model, null).output().onnxModel(), eval);
        double hqq = ZooModels.sqnr(inference, model, run("quantize-weights(method=hqq)", model, null).output().onnxModel(), eval);
        OnnxModel symmetric = run("quantize-weights(symmetric=true,block-size=64)", model, null).output().onnxModel();
        double sym = ZooModels.sqnr(inference, model, symmetric, eval);
        LOG.info("gpt2: 4-bit RTN {} dB, 8-bit RTN {} dB, HQQ {} dB, symmetric block 64 {} dB", String.format("%.1f", rtn4),
                String.format("%.1f", rtn8), String.format("%.1f", hqq), String.format("%.1f", sym));
        assertTrue(rtn8 > rtn4 + 15, "8 bits: " + rtn8 + " dB against 4 bits' " + rtn4);
        assertTrue(hqq > rtn4 - 1, "HQQ " + hqq + " dB, RTN " + rtn4);
        assertTrue(sym > 10, "symmetric " + sym);
        assertTrue(symmetric.graph().getNodeList().stream().filter(n -> n.getOpType().equals("MatMulNBits"))
                .allMatch(n -> n.getInputCount() == 3), "symmetric: no zero points stored");
    }

    @Test
    void excludedNodesStayFloatAndAreNamed() throws Exception {
        OnnxModel model = ZooModels.load("gpt2-op17-dynamic.onnx");
        HarnessResult result = run("quantize-weights(exclude-nodes=[/MatMul_4],op-types=[MatMul])", model, null);
        OnnxModel quantized = result.output().onnxModel();
        assertEquals(0, count(quantized, "GatherBlockQuantized"), "op-types without Gather");
        assertTrue(quantized.graph().getNodeList().stream().anyMatch(n -> n.getName().equals("/MatMul_4")
                && n.getOpType().equals("MatMul")), "the logits MatMul stays float");
        assertTrue(result.steps().get(0).notes().contains("left float: MatMul node '/MatMul_4': in exclude-nodes"),
                result.steps().get(0).notes().toString());
    }

    @Test
    void refusesInOneLineWhatItCannotDo() {
        OnnxModel activations = OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("products",
                List.of(OnnxHelper.node("MatMul", List.of("x", "y"), List.of("z"))),
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, -1, 4), OnnxHelper.valueInfo("y", DataType.FLOAT, 4, 2)),
                List.of(OnnxHelper.valueInfo("z", DataType.FLOAT, -1, 2)), List.of()), 17));
        assertEquals("step 1 'quantize-weights': nothing to quantize: no MatMul, Gemm, Gather node with a constant "
                + "2-D float32 weight", assertThrows(InvalidInputException.class,
                () -> run("quantize-weights", activations, null)).getMessage());

        OnnxModel doubles = OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("doubles",
                List.of(OnnxHelper.node("MatMul", List.of("x", "w"), List.of("z")).toBuilder().setName("mm").build()),
                List.of(OnnxHelper.valueInfo("x", DataType.DOUBLE, -1, 4)),
                List.of(OnnxHelper.valueInfo("z", DataType.DOUBLE, -1, 2)),
                List.of(Tensor.ofDoubles(new long[] {4, 2}, new double[8]).toProto("w"))), 17));
        assertEquals("step 1 'quantize-weights': nothing to quantize: no MatMul, Gemm, Gather node with a constant "
                + "2-D float32 weight (left float: MatMul node 'mm': weight is DOUBLE; only float32 weights are quantized)",
                assertThrows(InvalidInputException.class, () -> run("quantize-weights", doubles, null)).getMessage());

        OnnxModel model = NBitsRuntimeTest.embeddingAndProjection(10, 32, 8, 1);
        for (String[] refused : new String[][] {
                {"quantize-weights(bits=3)", "bits"},
                {"quantize-weights(block-size=48)", "block-size"},
                {"quantize-weights(method=hqq,symmetric=true)", "method=hqq fits zero points, so it cannot be symmetric=true"},
                {"quantize-weights(method=hqq,bits=8)", "method=hqq needs bits=4"}}) {
            String message = assertThrows(InvalidParamException.class, () -> run(refused[0], model, null)).getMessage();
            assertTrue(message.contains(refused[1]) && !message.contains("\n"), refused[0] + ": " + message);
        }
        String message = assertThrows(InvalidInputException.class,
                () -> run("quantize-weights(method=gptq)", model, null)).getMessage();
        assertEquals("step 1 'quantize-weights' needs calibration samples with method=gptq: give --calibration FILE or the event's "
                + "calibrationUri", message);
        assertFalse(message.contains("\n"));
    }
}
