package io.modelrefinery.host.eval;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.data.InvalidDataException;
import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.Progress;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.testdata.FashionMnist;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EvaluatorTest {
    @TempDir
    static Path dir;
    private static InferenceService inference;
    private static OnnxModel sample;
    /** The sample with its decision threshold moved: some Sandals become Sneakers. */
    private static OnnxModel damaged;

    @BeforeAll
    static void models() throws Exception {
        inference = new OrtRuntime().service(Device.CPU, dir.resolve("ort"));
        sample = TestModels.sampleCnn();
        damaged = TestModels.mapWeights(sample, "fc.bias"::equals, b -> b + 3);
    }

    private static Evaluator evaluator() {
        return new Evaluator(inference, new Evaluator.Settings(64, 0, 20, 2), Progress.none(), Cancellation.never());
    }

    @Test
    void accuracyMatchesADirectOnnxRuntimeComputation() {
        FashionMnist.assumeAvailable();
        FashionMnist.Samples test = FashionMnist.binary(FashionMnist.Split.TEST, Integer.MAX_VALUE);
        Dataset data = Datasets.open(test.writeNpz(dir.resolve("test.npz")), "input");

        Evaluation e = evaluator().evaluate(sample, damaged, data);

        assertEquals(2000, e.samples());
        assertEquals(0.952, e.accuracyBefore(), 1e-9, "the sample's reference accuracy");
        assertEquals(test.accuracy(inference, sample), e.accuracyBefore(), 1e-9);
        assertEquals(test.accuracy(inference, damaged), e.accuracyAfter(), 1e-9);
        assertTrue(e.accuracyAfter() < e.accuracyBefore() - 0.01, "the damage costs accuracy: " + e.accuracyAfter());
        assertTrue(e.top1Agreement() < 1.0 && e.top1Agreement() > 0.5, "agreement " + e.top1Agreement());
        assertTrue(e.sqnrDb() > 0 && e.sqnrDb() < 40, "SQNR " + e.sqnrDb());
        assertTrue(e.cosine() > 0.9 && e.cosine() < 1.0, "cosine " + e.cosine());
        assertEquals("cpu", e.device());
    }

    @Test
    void anUnchangedModelIsIdenticalAndAsFast() throws Exception {
        Path file = dir.resolve("random.npz");
        Datasets.writeNpz(file, Map.of("input", TestModels.randomImages(3, 100, 28, 28)));

        Evaluation e = evaluator().evaluate(sample, TestModels.sampleCnn(), Datasets.open(file, "input"));

        assertEquals(100, e.samples());
        assertNull(e.accuracyBefore(), "no labels, no accuracy");
        assertEquals(Evaluation.IDENTICAL_SQNR_DB, e.sqnrDb());
        assertEquals(1.0, e.cosine(), 1e-12);
        assertEquals(1.0, e.top1Agreement());
        assertTrue(e.latencyMsBefore() > 0 && e.latencyP95MsBefore() >= e.latencyMsBefore());
        assertTrue(e.latencyRatio() > 0.3 && e.latencyRatio() < 3, "same model, ratio " + e.latencyRatio());
    }

    @Test
    void withoutSamplesOnlyLatencyIsMeasuredOnGeneratedInputs() {
        Evaluation e = evaluator().evaluate(sample, damaged, null);

        assertEquals(0, e.samples());
        assertNull(e.accuracyBefore());
        assertNull(e.sqnrDb());
        assertNull(e.top1Agreement());
        assertTrue(e.latencyMsAfter() > 0);
    }

    @Test
    void refusesSamplesThatDoNotFitTheModel() throws Exception {
        Path noInput = dir.resolve("eval.npz");
        Datasets.writeNpz(noInput, Map.of("image", TestModels.randomImages(1, 4, 28, 28),
                "labels", Tensor.ofLongs(new long[] {4}, 0, 1, 0, 1)));
        String missing = assertThrows(InvalidDataException.class, () -> evaluator().evaluate(sample, damaged,
                Datasets.open(noInput, "input"))).getMessage();
        assertTrue(missing.startsWith("eval.npz has no array for model input 'input' (arrays: ["), missing);

        Path shortLabels = dir.resolve("short.npz");
        Datasets.writeNpz(shortLabels, Map.of("input", TestModels.randomImages(1, 4, 28, 28),
                "labels", Tensor.ofLongs(new long[] {3}, 0, 1, 0)));
        String message = assertThrows(InvalidDataException.class, () -> Datasets.open(shortLabels, "input")).getMessage();
        assertTrue(message.matches("short\\.npz: array '(labels|input)' has [34] samples but '(labels|input)' has [34]"),
                message);

        Path badLabel = dir.resolve("labels.npz");
        Datasets.writeNpz(badLabel, Map.of("input", TestModels.randomImages(1, 4, 28, 28),
                "labels", Tensor.ofLongs(new long[] {4}, 0, 1, 3, 1)));
        assertEquals("labels.npz: label 3.0 of sample 2 is not a class id of the model's output 'output' (0 to 1)",
                assertThrows(InvalidDataException.class, () -> evaluator().evaluate(sample, damaged,
                        Datasets.open(badLabel, "input"))).getMessage());
    }

    @Test
    void aFixedBatchModelIsFedBatchesOfItsSizeAndTimedAtIt() throws Exception {
        OnnxModel fixed = OnnxModel.load(TestModels.root().resolve("samples/zoo/resnet18-op13-fixed.onnx"));
        Path file = dir.resolve("images64.npz");
        Datasets.writeNpz(file, Map.of("input", TestModels.randomImages(5, 10, 3, 64, 64)));
        Evaluator batching = new Evaluator(inference, new Evaluator.Settings(4, 0, 10, 1, 200, 8), Progress.none(),
                Cancellation.never());

        Evaluation e = batching.evaluate(fixed, fixed, Datasets.open(file, "input"));

        assertEquals(10, e.samples(), "batches of the model's 1, not of 4");
        assertEquals(Evaluation.IDENTICAL_SQNR_DB, e.sqnrDb());
        assertEquals(1, e.latency().batch(), "timed at the batch the model fixes, not at 8");
        assertTrue(e.latency().pairs() >= 10, e.latency().toString());
    }

    @Test
    void aSymbolicBatchIsTimedAtTheConfiguredBatch() throws Exception {
        OnnxModel dynamic = OnnxModel.load(TestModels.root().resolve("samples/zoo/resnet18-op17-dynamic.onnx"));
        Evaluator batching = new Evaluator(inference, new Evaluator.Settings(4, 0, 5, 1, 200, 3), Progress.none(),
                Cancellation.never());

        Evaluation e = batching.evaluate(dynamic, dynamic, null);

        assertEquals(3, e.latency().batch());
    }

    @Test
    void dataOfAnotherShapeThanTheModelsIsOneLineNamingInputDimensionAndBothValues() throws Exception {
        OnnxModel fixed = OnnxModel.load(TestModels.root().resolve("samples/zoo/resnet18-op13-fixed.onnx"));
        Path file = dir.resolve("images32.npz");
        Datasets.writeNpz(file, Map.of("input", TestModels.randomImages(5, 4, 3, 32, 32)));

        String message = assertThrows(InvalidDataException.class, () -> evaluator().evaluate(fixed, fixed,
                Datasets.open(file, "input"))).getMessage();

        assertEquals("images32.npz: array 'input' has samples of shape [3,32,32] but the model input is [1,3,64,64] "
                + "(dimension 2 is 64 in the model, 32 in the data)", message);
    }

    @Test
    void aModelWithExtraWorkIsMeasuredSlowerByMoreThanTheNoise() throws Exception {
        Evaluation e = evaluator().evaluate(sample, TestModels.slowedDown(sample), null);

        assertTrue(e.latency().ratio() - e.latency().noise() > 1.5, e.latency().toString());
        assertTrue(e.latencyMsAfter() > e.latencyMsBefore());
    }
}
