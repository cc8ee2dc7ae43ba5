package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.SaveOptions;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.InvalidParamException;
import io.modelrefinery.plugin.quantize.QuantizeDynamicTransform;
import io.modelrefinery.plugin.quantize.QuantizeStaticTransform;
import io.modelrefinery.testkit.ArtifactMeasures;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.HarnessResult;
import io.modelrefinery.testkit.PluginHarness;
import io.modelrefinery.testkit.SampleData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Pruning the sample CNN (c1 [12,1,3,3], c2 [24,12,3,3], fc [1,600] with transB): exact sparsity per
 * pattern, the N:M layout, channel removal, refusals. Calibration uses random images: these tests check
 * structure; accuracy on real data is {@link SampleModelPruningTest}'s.
 */
class PruneTransformTest {
    @TempDir
    static Path dir;
    private static OnnxModel sample;
    private static Dataset calibration;
    private static InferenceService inference;

    @BeforeAll
    static void setUp() throws Exception {
        sample = ConformanceModels.sampleCnn();
        Path file = dir.resolve("calibration.npz");
        Datasets.writeNpz(file, Map.of("input", SampleData.randomImages(1, 64, 28, 28)));
        calibration = Datasets.open(file, "input");
        inference = PluginHarness.inference(dir.resolve("ort"));
    }

    private static HarnessResult run(String pipeline) {
        return PluginHarness.of(new PruneTransform(), new QuantizeDynamicTransform(), new QuantizeStaticTransform())
                .data(DataRole.CALIBRATION, calibration).run(pipeline, sample, dir);
    }

    private static float[] weights(OnnxModel model, String name) {
        return model.initializer(name).orElseThrow().toFloatArray();
    }

    private static long zeros(float[] values) {
        long n = 0;
        for (float v : values) {
            n += v == 0 ? 1 : 0;
        }
        return n;
    }

    private static float[] predict(OnnxModel model, Tensor images) {
        try (InferenceSession session = inference.open(model)) {
            return session.run(Map.of("input", images)).get("output").toFloatArray();
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            // pipeline | zeros in c1 | zeros in c2 | zeros in fc
            "prune(sparsity=0.8) | 86 | 2074 | 480",
            "prune(sparsity=0.8,method=reconstruct) | 86 | 2074 | 480",
            "prune(sparsity=0.5,layer-sparsity=[/c1/Conv=0.25,fc.weight=0.9]) | 27 | 1296 | 540",
            "prune(pattern=2:4) | 0 | 1296 | 300",
            "prune(pattern=2:4,method=reconstruct) | 0 | 1296 | 300",
            "prune(pattern=4:8) | 0 | 0 | 300",
            "prune(sparsity=0.9,exclude-nodes=[c2.weight]) | 97 | 0 | 540",
    })
    void prunesExactlyTheRequestedShare(String pipeline, long c1, long c2, long fc) {
        HarnessResult result = run(pipeline);
        OnnxModel out = result.output().onnxModel();

        assertEquals(c1, zeros(weights(out, "c1.weight")), "c1");
        assertEquals(c2, zeros(weights(out, "c2.weight")), "c2");
        assertEquals(fc, zeros(weights(out, "fc.weight")), "fc");
        StepRecord step = result.steps().get(0);
        long pruned = (c1 > 0 ? 108 : 0) + (c2 > 0 ? 2592 : 0) + (fc > 0 ? 600 : 0);
        assertEquals((double) (c1 + c2 + fc) / pruned, step.metrics().get("sparsity"), 1e-12);
    }

    @Test
    void globalScopeSharesOneThresholdAndKeepsTheExactTotal() {
        OnnxModel out = run("prune(sparsity=0.8,scope=global)").output().onnxModel();
        float[][] all = {weights(sample, "c1.weight"), weights(sample, "c2.weight"), weights(sample, "fc.weight")};
        float[][] pruned = {weights(out, "c1.weight"), weights(out, "c2.weight"), weights(out, "fc.weight")};

        long total = zeros(pruned[0]) + zeros(pruned[1]) + zeros(pruned[2]);
        assertEquals(Math.round(0.8 * 3300), total);
        double largestPruned = 0;
        double smallestKept = Double.MAX_VALUE;
        for (int l = 0; l < 3; l++) {
            for (int i = 0; i < all[l].length; i++) {
                if (pruned[l][i] == 0) {
                    largestPruned = Math.max(largestPruned, Math.abs(all[l][i]));
                } else {
                    assertEquals(all[l][i], pruned[l][i], "kept weights are unchanged");
                    smallestKept = Math.min(smallestKept, Math.abs(all[l][i]));
                }
            }
        }
        assertTrue(largestPruned <= smallestKept, largestPruned + " pruned, " + smallestKept + " kept");
    }

    @Test
    void twoOfFourLaysGroupsAlongInputChannelsAndKeepsTheLargest() {
        HarnessResult result = run("prune(pattern=2:4)");
        OnnxModel out = result.output().onnxModel();
        float[] before = weights(sample, "c2.weight");
        float[] after = weights(out, "c2.weight");
        // c2 [24, 12, 3, 3]: for each output channel and kernel position, input channels 4g..4g+3 form a group
        for (int o = 0; o < 24; o++) {
            for (int k = 0; k < 9; k++) {
                for (int g = 0; g < 3; g++) {
                    int kept = 0;
                    float smallestKept = Float.MAX_VALUE;
                    float largestPruned = 0;
                    for (int c = 4 * g; c < 4 * g + 4; c++) {
                        int i = (o * 12 + c) * 9 + k;
                        if (after[i] != 0) {
                            kept++;
                            assertEquals(before[i], after[i]);
                            smallestKept = Math.min(smallestKept, Math.abs(before[i]));
                        } else {
                            largestPruned = Math.max(largestPruned, Math.abs(before[i]));
                        }
                    }
                    assertEquals(2, kept, "output " + o + ", position " + k + ", group " + g);
                    assertTrue(largestPruned <= smallestKept);
                }
            }
        }
        // fc [1, 600] with transB: groups of four consecutive inputs
        float[] fc = weights(out, "fc.weight");
        for (int g = 0; g < 150; g++) {
            assertEquals(2, zeros(Arrays.copyOfRange(fc, 4 * g, 4 * g + 4)), "fc group " + g);
        }
        assertEquals(Arrays.toString(weights(sample, "c1.weight")), Arrays.toString(weights(out, "c1.weight")));
        assertEquals("left dense, reduction size not a multiple of 4: /c1/Conv", result.steps().get(0).notes().get(0));
        assertEquals(1.0, result.steps().get(0).metrics().get("dense-layers"));
    }

    @Test
    void reconstructedTwoOfFourKeepsTheLayoutAndCompensates() {
        OnnxModel out = run("prune(pattern=2:4,method=reconstruct)").output().onnxModel();
        float[] before = weights(sample, "c2.weight");
        float[] after = weights(out, "c2.weight");
        int changed = 0;
        for (int o = 0; o < 24; o++) {
            for (int k = 0; k < 9; k++) {
                for (int g = 0; g < 3; g++) {
                    int kept = 0;
                    for (int c = 4 * g; c < 4 * g + 4; c++) {
                        int i = (o * 12 + c) * 9 + k;
                        kept += after[i] != 0 ? 1 : 0;
                        changed += after[i] != 0 && after[i] != before[i] ? 1 : 0;
                    }
                    assertEquals(2, kept);
                }
            }
        }
        assertTrue(changed > 1000, "kept weights absorb the pruned ones' contribution: " + changed + " changed");
        assertTrue(!Arrays.equals(weights(sample, "c2.bias"), weights(out, "c2.bias")), "bias corrected");
    }

    @Test
    void channelPruningShrinksTheModelAndTheLayersAfterAndStillRuns() throws Exception {
        HarnessResult result = run("prune(sparsity=0.5,pattern=channel)");
        OnnxModel out = result.output().onnxModel();

        assertArrayEquals(new long[] {6, 1, 3, 3}, out.initializer("c1.weight").orElseThrow().shape());
        assertArrayEquals(new long[] {6}, out.initializer("c1.bias").orElseThrow().shape());
        assertArrayEquals(new long[] {12, 6, 3, 3}, out.initializer("c2.weight").orElseThrow().shape());
        assertArrayEquals(new long[] {1, 300}, out.initializer("fc.weight").orElseThrow().shape());
        assertEquals(0.5, result.steps().get(0).metrics().get("sparsity"));
        assertEquals(18.0, result.steps().get(0).metrics().get("removed-channels"));
        assertTrue(result.steps().get(0).notes().get(0).contains("/fc/Gemm"), "the last layer keeps its output");

        Path before = dir.resolve("dense.onnx");
        Path after = dir.resolve("channels.onnx");
        sample.save(before, SaveOptions.inline());
        out.save(after, SaveOptions.inline());
        assertTrue(Files.size(after) < 0.6 * Files.size(before), Files.size(after) + " vs " + Files.size(before));
        float[] p = predict(out, SampleData.randomImages(3, 5, 28, 28));
        assertEquals(5, p.length);
        for (float v : p) {
            assertTrue(v >= 0 && v <= 1, "a probability: " + v);
        }
    }

    @Test
    void removedChannelsLeaveTheirConstantOutputInTheNextBias() {
        // c2 sees relu(c1.bias[ch]) from a removed channel of c1: folded into c2's bias, the model computes
        // the same as the original where that channel's weights were zeroed, away from padded borders
        // (c2 pads nothing, so everywhere).
        OnnxModel out = run("prune(sparsity=0.25,pattern=channel,layers=[/c1/Conv])").output().onnxModel();
        assertArrayEquals(new long[] {9, 1, 3, 3}, out.initializer("c1.weight").orElseThrow().shape());
        float[] w = weights(sample, "c1.weight");
        float[] kept = weights(out, "c1.weight");
        float[] zeroed = new float[w.length];
        // the kept channels are those with the largest L1 norms, in order
        int next = 0;
        for (int ch = 0; ch < 12 && next < 9; ch++) {
            float[] row = Arrays.copyOfRange(w, ch * 9, ch * 9 + 9);
            if (Arrays.equals(row, Arrays.copyOfRange(kept, next * 9, next * 9 + 9))) {
                System.arraycopy(row, 0, zeroed, ch * 9, 9);
                next++;
            }
        }
        assertEquals(9, next);
        OnnxModel reference = sample.withGraph(io.modelrefinery.api.onnx.GraphEditor.of(sample.graph())
                .putInitializer(Tensor.ofFloats(new long[] {12, 1, 3, 3}, zeroed).toProto("c1.weight")).build());
        Tensor images = SampleData.randomImages(7, 8, 28, 28);
        assertArrayEquals(predict(reference, images), predict(out, images), 1e-5f);
    }

    @Test
    void composesWithDynamicQuantizationAndTheMeasuredSparsityCountsZeroPoints() throws Exception {
        for (String quantize : new String[] {"quantize-dynamic", "quantize-dynamic(weight-type=uint8)"}) {
            HarnessResult result = run("prune(sparsity=0.8,method=reconstruct)," + quantize);
            OnnxModel out = result.output().onnxModel();
            double measured = ArtifactMeasures.measure(out, dir.resolve("pruned-int8.onnx"), "seed_cnn_binary.onnx")
                    .sparsity();
            // pruned weights stay zeros (their zero point); a few small kept ones round to zero too
            assertTrue(measured >= 0.8 && measured < 0.85, quantize + ": measured sparsity " + measured);
            assertEquals(2, result.steps().size());
        }
    }

    @Test
    void channelPrunedModelsQuantizeStatically() {
        HarnessResult result = run("prune(sparsity=0.5,pattern=channel,method=reconstruct),quantize-static");
        OnnxModel out = result.output().onnxModel();

        assertTrue(result.steps().get(1).metrics().get("quantized-nodes") >= 3, result.steps().get(1).metrics().toString());
        assertEquals(12, out.initializer("c2.weight_quantized").orElseThrow().dim(0));
        assertEquals(5, predict(out, SampleData.randomImages(4, 5, 28, 28)).length);
    }

    @Test
    void refusesBadInput() {
        assertThrows(InvalidParamException.class, () -> run("prune(sparsity=1)"));
        assertThrows(InvalidParamException.class, () -> run("prune(sparsity=-0.1)"));
        assertThrows(InvalidParamException.class, () -> run("prune(pattern=dense)"));
        assertThrows(InvalidParamException.class, () -> run("prune(layer-sparsity=[c2.weight=1.5])"));
        assertEquals("step 1 'prune': layer 'conv9' is not a Conv, Gemm, MatMul layer with a constant weight "
                + "(prunable: /c1/Conv, /c2/Conv, /fc/Gemm)", assertThrows(InvalidInputException.class,
                () -> run("prune(exclude-nodes=[conv9])")).getMessage());
        assertEquals("step 1 'prune': layer '/c2/Conv' cannot take pattern 4:8: its reduction size 12 (input "
                + "channels per group) is not a multiple of 8", assertThrows(InvalidInputException.class,
                () -> run("prune(pattern=4:8,layers=[/c2/Conv,fc.weight])")).getMessage());
        assertEquals("step 1 'prune': pruning would remove every weight of layer '/c1/Conv': lower its sparsity, "
                + "skip it, or use scope=layer", assertThrows(InvalidInputException.class,
                () -> run("prune(layer-sparsity=[c1.weight=0.999])")).getMessage());
        assertEquals("step 1 'prune': cannot remove channels of layer '/fc/Gemm': its output reaches the graph output 'output'",
                assertThrows(InvalidInputException.class, () -> run("prune(pattern=channel,layers=[fc.weight])"))
                        .getMessage());
        // read when the pipeline is validated, before the job is accepted
        assertEquals("invalid value '4:2' for parameter 'pattern' of 'prune': keeps every weight: N must be below M "
                + "(expected unstructured, channel or N:M such as 2:4 and 4:8)",
                assertThrows(InvalidParamException.class, () -> run("prune(pattern=4:2)")).getMessage());
        assertEquals("invalid value '[c1.weight]' for parameter 'layer-sparsity' of 'prune': expected NAME=VALUE pairs "
                + "such as [a=1,b=2] ('c1.weight' is not NAME=VALUE)",
                assertThrows(InvalidParamException.class, () -> run("prune(layer-sparsity=[c1.weight])")).getMessage());
    }

    @Test
    void reconstructionNeedsCalibrationThatFitsTheModel() throws Exception {
        assertEquals("step 1 'prune' needs calibration samples with method=reconstruct: give --calibration FILE "
                + "or the event's calibrationUri", assertThrows(InvalidInputException.class,
                () -> PluginHarness.of(new PruneTransform()).run("prune(method=reconstruct)", sample, dir)).getMessage());
        // magnitude pruning needs no data
        PluginHarness.of(new PruneTransform()).run("prune(method=magnitude)", sample, dir);

        Path file = dir.resolve("wrong.npz");
        Datasets.writeNpz(file, Map.of("input", SampleData.randomImages(1, 4, 32, 32)));
        Dataset wrong = Datasets.open(file, "input");
        assertEquals("step 1 'prune': wrong.npz: array 'input' has samples of shape [32,32] but the model input is "
                + "[?,28,28] (dimension 1 is 28 in the model, 32 in the data)", assertThrows(InvalidInputException.class,
                () -> PluginHarness.of(new PruneTransform()).data(DataRole.CALIBRATION, wrong).run("prune(method=reconstruct)", sample, dir)).getMessage());
    }
}
