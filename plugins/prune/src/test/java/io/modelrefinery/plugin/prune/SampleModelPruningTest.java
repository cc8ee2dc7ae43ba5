package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.plugin.quantize.QuantizeDynamicTransform;
import io.modelrefinery.testdata.FashionMnist;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.HarnessResult;
import io.modelrefinery.testkit.PluginHarness;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The sample model pruned without training and scored on its 2,000 Fashion-MNIST test images (95.20%
 * dense), calibrated on training images of the same two classes.
 */
class SampleModelPruningTest {
    @TempDir
    static Path dir;
    private static FashionMnist.Samples test;
    private static Dataset calibration;
    private static InferenceService inference;

    @BeforeAll
    static void data() {
        FashionMnist.assumeAvailable();
        test = FashionMnist.binary(FashionMnist.Split.TEST, Integer.MAX_VALUE);
        Path file = FashionMnist.binary(FashionMnist.Split.TRAIN, 512).writeNpz(dir.resolve("calibration.npz"));
        calibration = Datasets.open(file, "input");
        inference = PluginHarness.inference(dir.resolve("ort"));
    }

    static HarnessResult run(String pipeline) throws Exception {
        return PluginHarness.of(new PruneTransform(), new QuantizeDynamicTransform()).data(DataRole.CALIBRATION, calibration)
                .run(pipeline, ConformanceModels.sampleCnn(), dir);
    }

    @Test
    void reconstructionKeepsTheDenseAccuracyAtEightyPercentWhereMagnitudeLosesIt() throws Exception {
        double dense = test.percentCorrect(inference, ConformanceModels.sampleCnn());
        double magnitude = test.percentCorrect(inference, run("prune(sparsity=0.8)").output().onnxModel());
        HarnessResult reconstructed = run("prune(sparsity=0.8,method=reconstruct)");
        double accuracy = test.percentCorrect(inference, reconstructed.output().onnxModel());

        assertEquals(95.20, dense, 1e-9);
        assertEquals(0.8, reconstructed.steps().get(0).metrics().get("sparsity"), 1e-3);
        assertTrue(accuracy >= dense - 2, "reconstructed at 80%: " + accuracy + "% vs " + dense + "% dense");
        assertTrue(accuracy > magnitude + 20, "reconstruct " + accuracy + "% vs magnitude " + magnitude + "%");
    }

    @Test
    void reconstructionAlsoRescuesChannelPruningAndComposesWithQuantization() throws Exception {
        double magnitude = test.percentCorrect(inference, run("prune(sparsity=0.5,pattern=channel)").output().onnxModel());
        double reconstructed = test.percentCorrect(inference,
                run("prune(sparsity=0.5,pattern=channel,method=reconstruct)").output().onnxModel());
        double quantized = test.percentCorrect(inference,
                run("prune(sparsity=0.8,method=reconstruct),quantize-dynamic").output().onnxModel());

        assertTrue(reconstructed > magnitude, "channels: reconstruct " + reconstructed + "% vs magnitude " + magnitude + "%");
        assertTrue(reconstructed >= 93, "half the channels removed: " + reconstructed + "%");
        assertTrue(quantized >= 93, "pruned to 80% and quantized: " + quantized + "%");
    }
}
