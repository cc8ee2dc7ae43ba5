package com.example.refinery.roundweights;

import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.HarnessResult;
import io.modelrefinery.testkit.ModelOutputs;
import io.modelrefinery.testkit.PluginHarness;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the transform does, run by the test kit's harness: the host's real pipeline runner and ONNX Runtime. */
class RoundWeightsTransformTest {
    @TempDir
    Path dir;

    @Test
    void roundsToTheNearestValueWithThatManySignificantBits() {
        assertEquals(1.5f, RoundWeightsTransform.round(1.4f, 2)); // 1.4 = 1.0110011..b: nearest with 2 bits is 1.1b
        assertEquals(-1.5f, RoundWeightsTransform.round(-1.4f, 2));
        assertEquals(2.0f, RoundWeightsTransform.round(1.8f, 2), "a carry moves into the exponent");
        assertEquals(1.0f, RoundWeightsTransform.round(1.2f, 1));
        assertEquals(0.1f, RoundWeightsTransform.round(0.1f, 24), "24 bits keep every float32");
        assertEquals(Float.MAX_VALUE, RoundWeightsTransform.round(Float.MAX_VALUE, 24));
        assertTrue(Float.isFinite(RoundWeightsTransform.round(Float.MAX_VALUE, 8)), "never rounds up to infinity");
        assertTrue(Float.isNaN(RoundWeightsTransform.round(Float.NaN, 8)));
        Random random = new Random(7);
        for (int i = 0; i < 10_000; i++) {
            float v = (float) random.nextGaussian();
            float r = RoundWeightsTransform.round(v, 8);
            assertTrue(Math.abs(r - v) <= Math.ulp(v) * (1 << 15), v + " -> " + r);
        }
    }

    @Test
    void aNodeNamedInExcludeNodesKeepsItsInitializersExactAndTheFormerNameStillWorksWithAWarning() throws Exception {
        OnnxModel model = ConformanceModels.sampleCnn();

        HarnessResult result = PluginHarness.of(new RoundWeightsTransform()).run("round-weights(bits=4,exclude=[/c1/Conv])", model, dir);
        OnnxModel rounded = result.output().onnxModel();

        assertEquals("parameter 'exclude' of 'round-weights' is deprecated: write 'exclude-nodes' (the old name goes in "
                + "the next minor version)", result.steps().get(0).notes().get(0));
        assertEquals(List.of("/c1/Conv"), result.steps().get(0).params().get("exclude-nodes"));
        for (String name : List.of("c1.weight", "c1.bias")) {
            assertArrayEquals(model.initializer(name).orElseThrow().toFloatArray(),
                    rounded.initializer(name).orElseThrow().toFloatArray(), name);
        }
        assertFalse(java.util.Arrays.equals(model.initializer("c2.weight").orElseThrow().toFloatArray(),
                rounded.initializer("c2.weight").orElseThrow().toFloatArray()), "other layers are rounded");
    }

    @Test
    void theRoundedSampleModelZipsSmallerAndStillAgreesWithTheOriginal() throws Exception {
        OnnxModel model = ConformanceModels.sampleCnn();

        HarnessResult result = PluginHarness.of(new RoundWeightsTransform())
                .run("round-weights(bits=8,exclude-nodes=[c1.bias])", model, dir);
        OnnxModel rounded = result.output().onnxModel();

        assertEquals("round-weights", result.steps().get(0).transform());
        assertEquals(List.of(), result.steps().get(0).notes().stream().filter(n -> n.contains("deprecated")).toList());
        for (TensorProto init : rounded.graph().getInitializerList()) {
            float[] values = rounded.tensor(init).toFloatArray();
            float[] original = model.initializer(init.getName()).orElseThrow().toFloatArray();
            for (int i = 0; i < values.length; i++) {
                int lowBits = Float.floatToRawIntBits(values[i]) & 0xFFFF;
                if (init.getName().equals("c1.bias")) {
                    assertEquals(original[i], values[i], "excluded initializers stay exact");
                } else {
                    assertEquals(0, lowBits, init.getName() + "[" + i + "] keeps only 8 significant bits");
                }
            }
        }
        assertTrue(zipped(rounded) < 0.8 * zipped(model), zipped(rounded) + " vs " + zipped(model));
        Tensor images = images(32);
        float[] before = run(model, images);
        float[] after = run(rounded, images);
        for (int i = 0; i < before.length; i++) {
            assertEquals(before[i], after[i], 0.02, "sample " + i);
        }
    }

    @Test
    void unknownOrOutOfRangeParametersAreRefusedBeforeAnyWork() {
        var refused = org.junit.jupiter.api.Assertions.assertThrows(io.modelrefinery.api.InvalidInputException.class,
                () -> PluginHarness.of(new RoundWeightsTransform()).run("round-weights(bits=30)", ConformanceModels.mlp(), dir));
        assertTrue(refused.getMessage().contains("bits"), refused.getMessage());
    }

    private static long zipped(OnnxModel model) throws Exception {
        var bytes = new java.io.ByteArrayOutputStream();
        try (var zip = new java.util.zip.ZipOutputStream(bytes)) {
            zip.putNextEntry(new java.util.zip.ZipEntry("model.onnx"));
            zip.write(model.toByteArray());
        }
        return bytes.size();
    }

    private static Tensor images(int n) {
        Random random = new Random(11);
        float[] pixels = new float[n * 28 * 28];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = random.nextFloat();
        }
        return Tensor.ofFloats(new long[] {n, 28, 28}, pixels);
    }

    private float[] run(OnnxModel model, Tensor input) {
        return ModelOutputs.floats(PluginHarness.inference(dir.resolve("ort")), model, "input", input, "output");
    }
}
