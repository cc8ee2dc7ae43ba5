package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.host.pipeline.LocalRun;
import io.modelrefinery.host.pipeline.PipelineResult;
import io.modelrefinery.host.testing.FashionMnist;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.plugin.quantize.QuantizeDynamicTransform;
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
    private static JobData calibration;
    private static InferenceService inference;

    @BeforeAll
    static void data() {
        FashionMnist.assumeAvailable();
        test = FashionMnist.binary(FashionMnist.Split.TEST, Integer.MAX_VALUE);
        Path file = FashionMnist.binary(FashionMnist.Split.TRAIN, 512).writeNpz(dir.resolve("calibration.npz"));
        calibration = new JobData(Datasets.open(file, "input"), null, null);
        inference = new OrtRuntime().service(Device.CPU, dir.resolve("ort"));
    }

    static PipelineResult run(String pipeline) throws Exception {
        return LocalRun.of(new PruneTransform(), new QuantizeDynamicTransform()).data(calibration)
                .run(pipeline, TestModels.sampleCnn(), dir);
    }

    @Test
    void reconstructionKeepsTheDenseAccuracyAtEightyPercentWhereMagnitudeLosesIt() throws Exception {
        double dense = test.percentCorrect(inference, TestModels.sampleCnn());
        double magnitude = test.percentCorrect(inference, run("prune(sparsity=0.8)").output().onnxModel());
        PipelineResult reconstructed = run("prune(sparsity=0.8,method=reconstruct)");
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
