package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.InvalidParamException;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.HarnessResult;
import io.modelrefinery.testkit.PluginHarness;
import io.modelrefinery.testkit.SampleData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Calibration data that does not fit, and models with nothing to quantize. */
class QuantizationInputTest {
    @TempDir
    Path dir;

    private String refusal(Map<String, Tensor> arrays) throws Exception {
        Path file = dir.resolve("calibration.npz");
        Datasets.writeNpz(file, arrays);
        Dataset data = Datasets.open(file, "input");
        return assertThrows(InvalidInputException.class, () -> PluginHarness.of(new QuantizeStaticTransform())
                .data(DataRole.CALIBRATION, data)
                .run("quantize-static", ConformanceModels.sampleCnn(), dir)).getMessage();
    }

    @Test
    void namesTheTensorWhenCalibrationDataDoesNotFit() throws Exception {
        assertEquals("step 1 'quantize-static': calibration.npz has no array for model input 'input' (arrays: [image])",
                refusal(Map.of("image", SampleData.randomImages(1, 4, 28, 28))));
        assertEquals("step 1 'quantize-static': calibration.npz: array 'input' has samples of shape [32,32] but the model "
                + "input is [?,28,28] (dimension 1 is 28 in the model, 32 in the data)",
                refusal(Map.of("input", SampleData.randomImages(1, 4, 32, 32))));
        assertEquals("step 1 'quantize-static': calibration.npz: array 'input' is DOUBLE but the model input is FLOAT",
                refusal(Map.of("input", Tensor.ofDoubles(new long[] {1, 28, 28}, new double[784]))));
        assertEquals("step 1 'quantize-static': calibration.npz has no samples",
                refusal(Map.of("input", Tensor.ofFloats(new long[] {0, 28, 28}))));
        float[] pixels = SampleData.randomImages(1, 3, 28, 28).toFloatArray();
        pixels[784 + 5] = Float.NaN;
        assertEquals("step 1 'quantize-static': calibration.npz: array 'input' holds NaN in sample 1",
                refusal(Map.of("input", Tensor.ofFloats(new long[] {3, 28, 28}, pixels))));
    }

    @Test
    void staticQuantizationNeedsCalibrationData() {
        assertEquals("step 1 'quantize-static' needs calibration samples: give --calibration FILE or "
                + "the event's calibrationUri", assertThrows(InvalidInputException.class,
                () -> PluginHarness.of(new QuantizeStaticTransform()).run("quantize-static", ConformanceModels.sampleCnn(), dir))
                .getMessage());
    }

    @Test
    void aModelWithNothingToQuantizeComesBackUnchangedWithTheReason() {
        OnnxModel reluOnly = OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("relu",
                List.of(OnnxHelper.node("Relu", List.of("x"), List.of("y"))),
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, -1, 4)),
                List.of(OnnxHelper.valueInfo("y", DataType.FLOAT, -1, 4)), List.of()), 17));

        HarnessResult result = PluginHarness.of(new QuantizeDynamicTransform()).run("quantize-dynamic", reluOnly, dir);

        assertSame(reluOnly, result.output().onnxModel());
        assertEquals(0.0, result.steps().get(0).metrics().get("quantized-nodes"));
        assertTrue(result.steps().get(0).notes().get(0).startsWith("nothing to quantize"));
    }

    @Test
    void refusesUnknownOperatorTypes() {
        assertThrows(InvalidParamException.class, () -> PluginHarness.of(new QuantizeStaticTransform())
                .run("quantize-static(op-types=[Conv,Attention])", ConformanceModels.sampleCnn(), dir));
    }

    @Test
    void refusesAPercentileAbove100() {
        // 500 used to pass and calibrate like min-max
        assertEquals("invalid value 500.0 for parameter 'percentile' of 'quantize-static': must be in (50, 100]",
                assertThrows(InvalidParamException.class, () -> Params.parse(new QuantizeStaticTransform().descriptor(),
                        Map.of("percentile", "500"))).getMessage());
        assertEquals(100.0, Params.parse(new QuantizeStaticTransform().descriptor(), Map.of("percentile", "100"))
                .get(QuantizeStaticTransform.PERCENTILE));
    }

    @Test
    void feedsAFixedBatchModelTheBatchItTakesAndNamesWhatDoesNotFit() throws Exception {
        OnnxModel fixed = ZooModels.load("resnet18-op13-fixed.onnx"); // input [1,3,64,64], as torch exports
        Path file = dir.resolve("calibration.npz");
        Datasets.writeNpz(file, Map.of("input", SampleData.randomImages(1, 5, 3, 64, 64)));
        HarnessResult result = PluginHarness.of(new QuantizeStaticTransform())
                .data(DataRole.CALIBRATION, Datasets.open(file, "input")).run("quantize-static", fixed, dir);
        assertEquals(5.0, result.steps().get(0).metrics().get("calibration-samples"), "one sample at a time");

        Datasets.writeNpz(file, Map.of("input", SampleData.randomImages(1, 5, 3, 32, 32)));
        Dataset small = Datasets.open(file, "input");
        assertEquals("step 1 'quantize-static': calibration.npz: array 'input' has samples of shape [3,32,32] but the "
                + "model input is [1,3,64,64] (dimension 2 is 64 in the model, 32 in the data)",
                assertThrows(InvalidInputException.class, () -> PluginHarness.of(new QuantizeStaticTransform())
                        .data(DataRole.CALIBRATION, small)
                        .run("quantize-static", fixed, dir)).getMessage());
    }

    @Test
    void aFixedBatchLargerThanTheDataIsRefusedInOneLine() throws Exception {
        OnnxModel four = OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("four",
                List.of(OnnxHelper.node("MatMul", List.of("x", "w"), List.of("y"))),
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, 4, 8)),
                List.of(OnnxHelper.valueInfo("y", DataType.FLOAT, 4, 2)),
                List.of(Tensor.ofFloats(new long[] {8, 2}, new float[16]).toProto("w"))), 17));
        Path file = dir.resolve("three.npz");
        Datasets.writeNpz(file, Map.of("x", SampleData.randomImages(1, 3, 8)));
        Dataset three = Datasets.open(file, "x");

        assertEquals("step 1 'quantize-static': three.npz has 3 samples, but the model takes batches of exactly 4",
                assertThrows(InvalidInputException.class, () -> PluginHarness.of(new QuantizeStaticTransform())
                        .data(DataRole.CALIBRATION, three)
                        .run("quantize-static", four, dir)).getMessage());
    }
}
