package io.modelrefinery.testkit;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.testkit.suites.KeepBitsTransform;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The harness runs pipelines as the host does, and the comparisons compute what they say. */
class PluginHarnessTest {
    @TempDir
    Path dir;

    @Test
    void runsAPipelineThroughTheHostsRunnerAndReportsEachStep() {
        OnnxModel model = ConformanceModels.sampleCnn();
        HarnessResult r = PluginHarness.of(new KeepBitsTransform(KeepBitsTransform.Defect.NONE))
                .run("keep-bits(bits=4),keep-bits", model, dir);

        assertEquals(2, r.steps().size());
        assertEquals(4, ((Number) r.step(0).params().get("bits")).intValue());
        assertEquals(8, ((Number) r.step(1).params().get("bits")).intValue(), "the default is recorded");
        assertEquals(model, r.reference());
        InferenceService ort = PluginHarness.inference(dir.resolve("ort"));
        Tensor images = SampleData.randomImages(3, 8, 28, 28);
        float[] before = ModelOutputs.floats(ort, model, "input", images, "output");
        float[] after = ModelOutputs.floats(ort, r.model(), "input", images, "output");
        double diff = ModelOutputs.maxAbsDiff(before, after);
        assertTrue(diff > 0 && diff < 0.5, "4 mantissa bits change the outputs a little: " + diff);
        // Each mantissa bit kept is worth about 6 dB of output SQNR: 8 more bits, far less noise.
        float[] finer = ModelOutputs.floats(ort, PluginHarness.of(new KeepBitsTransform(KeepBitsTransform.Defect.NONE))
                .run("keep-bits(bits=12)", model, dir.resolve("12")).model(), "input", images, "output");
        double coarse = ModelOutputs.sqnrDb(before, after);
        double fine = ModelOutputs.sqnrDb(before, finer);
        assertTrue(fine > coarse + 20 && fine < Evaluation.IDENTICAL_SQNR_DB, coarse + " dB at 4 bits, " + fine + " at 12");
    }

    @Test
    void parametersTheSpecRefusesFailBeforeWorkAsInAJob() {
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> PluginHarness.of(new KeepBitsTransform(KeepBitsTransform.Defect.NONE))
                        .run("keep-bits(bits=40)", ConformanceModels.mlp(), dir));
        assertTrue(e.getMessage().contains("bits"), e.getMessage());
    }

    @Test
    void comparisonsComputeTheirDefinitions() {
        float[] ref = {3, 4};
        assertEquals(0.5, ModelOutputs.maxAbsDiff(ref, new float[] {3.5f, 4}), 0);
        // signal 25, noise 0.25: 10 log10(100) = 20 dB
        assertEquals(20.0, ModelOutputs.sqnrDb(ref, new float[] {3.5f, 4}), 1e-9);
        assertEquals(Evaluation.IDENTICAL_SQNR_DB, ModelOutputs.sqnrDb(ref, ref.clone()));
        assertThrows(IllegalArgumentException.class, () -> ModelOutputs.maxAbsDiff(ref, new float[1]));
        assertEquals(List.of(8L, 28L, 28L), java.util.Arrays.stream(SampleData.randomImages(1, 8, 28, 28).shape())
                .boxed().toList());
    }
}
