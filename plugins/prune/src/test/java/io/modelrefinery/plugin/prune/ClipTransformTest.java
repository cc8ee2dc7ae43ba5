package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.InvalidParamException;
import io.modelrefinery.plugin.quantize.QuantizeDynamicTransform;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.HarnessResult;
import io.modelrefinery.testkit.PluginHarness;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Per-channel weight clipping on the sample CNN. */
class ClipTransformTest {
    @TempDir
    Path dir;

    private HarnessResult run(String pipeline) throws Exception {
        return PluginHarness.of(new ClipTransform(), new QuantizeDynamicTransform()).run(pipeline, ConformanceModels.sampleCnn(), dir);
    }

    @Test
    void percentileClipsEachOutputChannelToItsOwnLimit() throws Exception {
        OnnxModel sample = ConformanceModels.sampleCnn();
        HarnessResult result = run("clip(percentile=90)");
        float[] before = sample.initializer("c2.weight").orElseThrow().toFloatArray();
        float[] after = result.output().onnxModel().initializer("c2.weight").orElseThrow().toFloatArray();

        int changed = 0;
        for (int o = 0; o < 24; o++) { // 108 weights per channel: the 98th largest |w| is the limit
            double[] abs = new double[108];
            for (int i = 0; i < 108; i++) {
                abs[i] = Math.abs(before[o * 108 + i]);
            }
            java.util.Arrays.sort(abs);
            float limit = (float) abs[(int) Math.ceil(0.9 * 108) - 1];
            for (int i = o * 108; i < o * 108 + 108; i++) {
                float expected = Math.max(-limit, Math.min(limit, before[i]));
                assertEquals(expected, after[i]);
                changed += expected != before[i] ? 1 : 0;
            }
        }
        assertEquals(24 * 10, changed, "ten of 108 per channel lie above the limit");
        // c1 has 9 weights per channel (its 90th percentile is its largest: none clipped), fc one of 600 (60 clipped)
        assertEquals(24 * 10 + 60, result.steps().get(0).metrics().get("clipped-weights"));
        assertEquals((24 * 10 + 60) / 3300.0, result.steps().get(0).metrics().get("clipped-share"), 1e-12);
    }

    @Test
    void sigmaRuleClipsOnlyOutliers() throws Exception {
        HarnessResult result = run("clip(method=sigma,sigmas=2.5),quantize-dynamic");
        double share = result.steps().get(0).metrics().get("clipped-share");
        assertTrue(share > 0 && share < 0.03, "a few outliers clipped: " + share);
        assertEquals(2, result.steps().size());
    }

    @Test
    void skippedLayersStayAsTheyAre() throws Exception {
        HarnessResult result = run("clip(percentile=50,skip=[/fc/Gemm])"); // the former name, still accepted
        OnnxModel out = result.output().onnxModel();
        assertEquals("parameter 'skip' of 'clip' is deprecated: write 'exclude-nodes' (the old name goes in the next "
                + "minor version)", result.steps().get(0).notes().get(0));
        assertArrayEquals(ConformanceModels.sampleCnn().initializer("fc.weight").orElseThrow().toFloatArray(),
                out.initializer("fc.weight").orElseThrow().toFloatArray());
    }

    @Test
    void refusesBadInput() {
        assertThrows(InvalidParamException.class, () -> run("clip(percentile=101)"));
        assertThrows(InvalidParamException.class, () -> run("clip(sigmas=0)"));
        assertEquals("step 1 'clip': layer 'dense' in exclude-nodes is not a Conv, Gemm or MatMul layer with a constant weight "
                + "(layers: /c1/Conv, /c2/Conv, /fc/Gemm)", assertThrows(InvalidInputException.class,
                () -> run("clip(exclude-nodes=[dense])")).getMessage());
    }
}
