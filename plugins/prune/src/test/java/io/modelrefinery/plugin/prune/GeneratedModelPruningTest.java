package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.testkit.ConvNets;
import io.modelrefinery.testkit.PluginHarness;
import io.modelrefinery.testkit.SampleData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;
import static io.modelrefinery.api.onnx.OnnxHelper.node;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Layouts the sample model lacks: a MatMul weight [K, N], BatchNormalization between convolutions. */
class GeneratedModelPruningTest {
    @TempDir
    Path dir;

    /** y = relu(x W + b), x [n,4], W [4,3] holding (i - 6) / 4: one weight of column 0 is zero already. */
    private static OnnxModel mlp() {
        float[] w = new float[12];
        for (int i = 0; i < w.length; i++) {
            w[i] = (i - 6) * 0.25f;
        }
        return OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("mlp",
                List.of(node("MatMul", List.of("x", "w"), List.of("mm")),
                        node("Add", List.of("mm", "b"), List.of("pre")),
                        node("Relu", List.of("pre"), List.of("y"))),
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, -1, 4)),
                List.of(OnnxHelper.valueInfo("y", DataType.FLOAT, -1, 3)),
                List.of(Tensor.ofFloats(new long[] {4, 3}, w).toProto("w"),
                        Tensor.ofFloats(new long[] {3}, 0.5f, -0.5f, 1f).toProto("b"))), 17));
    }

    @Test
    void twoOfFourOnAMatMulGroupsAlongK() {
        // w [4, 3]: K = 4 rows, one group of four per output column
        OnnxModel out = PluginHarness.of(new PruneTransform()).run("prune(pattern=2:4)", mlp(), dir)
                .output().onnxModel();
        float[] before = mlp().initializer("w").orElseThrow().toFloatArray();
        float[] after = out.initializer("w").orElseThrow().toFloatArray();
        for (int n = 0; n < 3; n++) {
            int zeros = 0;
            for (int k = 0; k < 4; k++) {
                zeros += after[k * 3 + n] == 0 ? 1 : 0;
                if (after[k * 3 + n] != 0) {
                    assertEquals(before[k * 3 + n], after[k * 3 + n]);
                }
            }
            // column n holds (k*3 + n - 6) / 4: the two largest in magnitude are kept (one is zero already)
            assertEquals(2, zeros, "column " + n);
        }
    }

    private static Tensor random(Random random, long... shape) {
        int n = 1;
        for (long d : shape) {
            n *= (int) d;
        }
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) random.nextGaussian() * 0.5f;
        }
        return Tensor.ofFloats(shape, v);
    }

    /** Conv a (8 of 3 channels, 3x3, padded) -> BatchNormalization -> Relu -> Conv b (4 of 8, 1x1). */
    private static OnnxModel convBnConv() {
        Random random = new Random(11);
        float[] variance = new float[8];
        for (int i = 0; i < 8; i++) {
            variance[i] = 0.5f + random.nextFloat();
        }
        return OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("cbc",
                List.of(node("Conv", List.of("x", "a.w", "a.b"), List.of("a"), attr("kernel_shape", 3L, 3L),
                                attr("pads", 1L, 1L, 1L, 1L)),
                        node("BatchNormalization", List.of("a", "bn.scale", "bn.bias", "bn.mean", "bn.var"), List.of("n")),
                        node("Relu", List.of("n"), List.of("r")),
                        node("Conv", List.of("r", "b.w", "b.b"), List.of("y"), attr("kernel_shape", 1L, 1L))),
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, -1, 3, 8, 8)),
                List.of(OnnxHelper.valueInfo("y", DataType.FLOAT, -1, 4, 8, 8)),
                List.of(random(random, 8, 3, 3, 3).toProto("a.w"), random(random, 8).toProto("a.b"),
                        random(random, 8).toProto("bn.scale"), random(random, 8).toProto("bn.bias"),
                        random(random, 8).toProto("bn.mean"), Tensor.ofFloats(new long[] {8}, variance).toProto("bn.var"),
                        random(random, 4, 8, 1, 1).toProto("b.w"), random(random, 4).toProto("b.b"))), 17));
    }

    @Test
    void channelPruningShrinksBatchNormalizationAndFoldsTheRemovedChannelsIntoTheNextBias() {
        OnnxModel model = convBnConv();
        OnnxModel out = PluginHarness.of(new PruneTransform()).run("prune(sparsity=0.5,pattern=channel,layers=[a.w])", model, dir)
                .output().onnxModel();

        assertArrayEquals(new long[] {4, 3, 3, 3}, out.initializer("a.w").orElseThrow().shape());
        for (String bn : List.of("bn.scale", "bn.bias", "bn.mean", "bn.var")) {
            assertArrayEquals(new long[] {4}, out.initializer(bn).orElseThrow().shape(), bn);
        }
        assertArrayEquals(new long[] {4, 4, 1, 1}, out.initializer("b.w").orElseThrow().shape());

        // The same model with the removed channels' weights zeroed computes the same: each removed channel
        // outputs relu(bn(a.b[ch])) everywhere, which b's bias now carries.
        float[] w = model.initializer("a.w").orElseThrow().toFloatArray();
        float[] kept = out.initializer("a.w").orElseThrow().toFloatArray();
        float[] zeroed = new float[w.length];
        int next = 0;
        for (int ch = 0; ch < 8; ch++) {
            boolean same = next < 4;
            for (int i = 0; i < 27 && same; i++) {
                same = w[ch * 27 + i] == kept[next * 27 + i];
            }
            if (same) {
                System.arraycopy(w, ch * 27, zeroed, ch * 27, 27);
                next++;
            }
        }
        assertEquals(4, next);
        OnnxModel reference = model.withGraph(GraphEditor.of(model.graph())
                .putInitializer(Tensor.ofFloats(new long[] {8, 3, 3, 3}, zeroed).toProto("a.w")).build());
        Tensor x = SampleData.randomImages(5, 2, 3, 8, 8);
        var inference = PluginHarness.inference(dir.resolve("ort"));
        try (InferenceSession a = inference.open(reference); InferenceSession b = inference.open(out)) {
            assertArrayEquals(a.run(Map.of("x", x)).get("y").toFloatArray(), b.run(Map.of("x", x)).get("y").toFloatArray(),
                    1e-5f);
        }
    }

    private static OnnxModel matMul(int k, int n) {
        Random random = new Random(k);
        return OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("mm",
                List.of(node("MatMul", List.of("x", "w"), List.of("y"))),
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, -1, k)),
                List.of(OnnxHelper.valueInfo("y", DataType.FLOAT, -1, n)),
                List.of(random(random, k, n).toProto("w"))), 17));
    }

    private Dataset samples(int k) throws Exception {
        Path file = dir.resolve("x" + k + ".npz");
        Datasets.writeNpz(file, Map.of("x", random(new Random(1), 64, k)));
        return Datasets.open(file, "x");
    }

    private static long zeros(OnnxModel model) {
        long z = 0;
        for (float v : model.initializer("w").orElseThrow().toFloatArray()) {
            z += v == 0 ? 1 : 0;
        }
        return z;
    }

    @Test
    void theLayersOwnOutputSqnrIsTheDenseAgainstThePrunedWeightsOnTheSameInputs() throws Exception {
        // magnitude pruning needs no data: the report reads the evaluation samples instead
        Path file = dir.resolve("eval.npz");
        Tensor x = random(new Random(3), 40, 16);
        Datasets.writeNpz(file, Map.of("x", x));
        Dataset evaluation = Datasets.open(file, "x");
        OnnxModel dense = matMul(16, 4);
        var result = PluginHarness.of(new PruneTransform()).data(DataRole.EVALUATION, evaluation).run("prune(sparsity=0.5)", dense, dir);

        float[] w = dense.initializer("w").orElseThrow().toFloatArray();
        float[] p = result.output().onnxModel().initializer("w").orElseThrow().toFloatArray();
        float[] xs = x.toFloatArray();
        double signal = 0;
        double noise = 0;
        for (int i = 0; i < 40; i++) {
            for (int n = 0; n < 4; n++) {
                double yd = 0;
                double yp = 0;
                for (int k = 0; k < 16; k++) {
                    yd += xs[i * 16 + k] * w[k * 4 + n];
                    yp += xs[i * 16 + k] * p[k * 4 + n];
                }
                signal += yd * yd;
                noise += (yd - yp) * (yd - yp);
            }
        }
        double expected = 10 * Math.log10(signal / noise);
        assertEquals(expected, result.steps().get(0).metrics().get("layer-sqnr-db:y_MatMul"), 1e-3);
        assertEquals(List.of(String.format(java.util.Locale.ROOT, "least accurate pruned layers, own output SQNR on 40 "
                + "evaluation samples: y_MatMul %.1f dB", expected)), result.steps().get(0).notes());
    }

    @Test
    void reconstructsAMatMulAndFallsBackToMagnitudeBeyondTheSizeLimit() throws Exception {
        var small = PluginHarness.of(new PruneTransform()).data(DataRole.CALIBRATION, samples(16))
                .run("prune(sparsity=0.75,method=reconstruct)", matMul(16, 4), dir);
        assertEquals(48, zeros(small.output().onnxModel()));
        assertEquals(List.of(), small.steps().get(0).notes().stream().filter(n -> !n.startsWith("least accurate"))
                .toList()); // only the sensitivity report: no layer fell back to magnitude

        int k = ReconstructPruning.MAX_COLUMNS;
        var large = PluginHarness.of(new PruneTransform()).data(DataRole.CALIBRATION, samples(k))
                .run("prune(sparsity=0.5,method=reconstruct)", matMul(k, 2), dir);
        assertEquals(k, zeros(large.output().onnxModel()));
        assertEquals("pruned by magnitude, not reconstructed (reconstruction takes Gemm, MatMul and 1-D or 2-D "
                + "convolutions with fewer than 2048 inputs per output): y_MatMul", large.steps().get(0).notes().get(0));
    }

    @Test
    void aModelWithNothingToPruneComesBackWithTheReason() {
        OnnxModel relu = OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("relu",
                List.of(node("Relu", List.of("x"), List.of("y"))),
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, -1, 4)),
                List.of(OnnxHelper.valueInfo("y", DataType.FLOAT, -1, 4)), List.of()), 17));

        var result = PluginHarness.of(new PruneTransform()).run("prune(sparsity=0.8)", relu, dir);

        assertEquals(0.0, result.steps().get(0).metrics().get("sparsity"));
        assertEquals(List.of("nothing to prune: no Conv, Gemm, MatMul layer with a constant float weight"),
                result.steps().get(0).notes());
    }

    private static double error(OnnxModel reference, OnnxModel model, Tensor x, Path dir) {
        var inference = PluginHarness.inference(dir.resolve("ort"));
        float[] a;
        float[] b;
        try (InferenceSession s1 = inference.open(reference); InferenceSession s2 = inference.open(model)) {
            String input = s1.inputs().get(0).name();
            String output = s1.outputs().get(0).name();
            a = s1.run(Map.of(input, x)).get(output).toFloatArray();
            b = s2.run(Map.of(input, x)).get(output).toFloatArray();
        }
        double e = 0;
        for (int i = 0; i < a.length; i++) {
            e += (a[i] - b[i]) * (a[i] - b[i]);
        }
        return e / a.length;
    }

    @Test
    void onAMobileNetShapedNetworkReconstructionErrsFarLessThanMagnitude() throws Exception {
        // MobileNetV2's blocks: 1x1 expansion, 3x3 depthwise, 1x1 projection, ReLU6 as Clip, residual adds
        OnnxModel net = ConvNets.mobileNet(5, 0.35, 16, 2, 10);
        Path file = dir.resolve("images.npz");
        Datasets.writeNpz(file, Map.of("input", SampleData.randomImages(1, 16, 3, 16, 16)));
        Dataset data = Datasets.open(file, "input");
        Tensor held = SampleData.randomImages(2, 16, 3, 16, 16);

        double reconstructed = error(net, PluginHarness.of(new PruneTransform()).data(DataRole.CALIBRATION, data)
                .run("prune(sparsity=0.6,method=reconstruct)", net, dir).output().onnxModel(), held, dir);
        double magnitude = error(net, PluginHarness.of(new PruneTransform())
                .run("prune(sparsity=0.6)", net, dir).output().onnxModel(), held, dir);
        assertTrue(reconstructed < 0.2 * magnitude, "reconstruct " + reconstructed + " vs magnitude " + magnitude);

        // channel pruning reaches through the depthwise convolutions: expansion layers lose channels
        var channels = PluginHarness.of(new PruneTransform()).data(DataRole.CALIBRATION, data)
                .run("prune(sparsity=0.25,pattern=channel,method=reconstruct)", net, dir);
        OnnxModel small = channels.output().onnxModel();
        long[] expansion = net.initializer("conv5.w").orElseThrow().shape();
        assertArrayEquals(new long[] {expansion[0] - Math.round(0.25 * expansion[0]), expansion[1], 1, 1},
                small.initializer("conv5.w").orElseThrow().shape());
        assertEquals(small.initializer("conv5.w").orElseThrow().dim(0), small.initializer("conv6.w").orElseThrow().dim(0),
                "the depthwise convolution after it lost the same channels");
        assertTrue(small.parameterCount() < net.parameterCount());
        double channelError = error(net, small, held, dir);
        double channelMagnitude = error(net, PluginHarness.of(new PruneTransform())
                .run("prune(sparsity=0.25,pattern=channel)", net, dir).output().onnxModel(), held, dir);
        assertTrue(channelError < channelMagnitude, "channels: reconstruct " + channelError + " vs " + channelMagnitude);
    }
}
