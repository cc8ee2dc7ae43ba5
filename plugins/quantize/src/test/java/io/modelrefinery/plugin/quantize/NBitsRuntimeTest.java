package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.testkit.PluginHarness;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ONNX Runtime's MatMulNBits and GatherBlockQuantized kernels read what {@link NBitsRewriter} packs: the
 * quantized model's outputs equal those of the float model with each weight replaced by its dequantized
 * values (computed in Java), for 4 and 8 bits, every block size, symmetric and asymmetric, HQQ's float zero
 * points, and a K that is no multiple of the block (padded, as ONNX Runtime's tool pads).
 */
class NBitsRuntimeTest {
    @TempDir
    static Path dir;
    private static InferenceService inference;

    @BeforeAll
    static void runtime() {
        inference = PluginHarness.inference(dir.resolve("ort"));
    }

    /** ids -> Gather(table [vocab, width]) -> MatMul(W [width, hidden]) -> output [batch, 5, hidden]. */
    static OnnxModel embeddingAndProjection(int vocab, int width, int hidden, long seed) {
        Random random = new Random(seed);
        float[] table = new float[vocab * width];
        float[] w = new float[width * hidden];
        for (int i = 0; i < table.length; i++) {
            table[i] = (float) random.nextGaussian();
        }
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (random.nextGaussian() * 0.1);
        }
        List<NodeProto> nodes = List.of(
                OnnxHelper.node("Gather", List.of("table", "ids"), List.of("embedded")).toBuilder().setName("embed").build(),
                OnnxHelper.node("MatMul", List.of("embedded", "w"), List.of("output")).toBuilder().setName("proj").build());
        return OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("g", nodes,
                List.of(OnnxHelper.valueInfo("ids", DataType.INT64, -1, 5)),
                List.of(OnnxHelper.valueInfo("output", DataType.FLOAT, -1, 5, hidden)),
                List.of(Tensor.ofFloats(new long[] {vocab, width}, table).toProto("table"),
                        Tensor.ofFloats(new long[] {width, hidden}, w).toProto("w"))), 17));
    }

    private static float[] run(OnnxModel model, Tensor ids) {
        try (InferenceSession session = inference.open(model)) {
            return session.run(Map.of("ids", ids)).get("output").toFloatArray();
        }
    }

    @ParameterizedTest(name = "bits {0}, block {1}, symmetric {2}, width {3}, hqq {4}")
    @CsvSource({"4, 32, true, 96, false", "4, 32, false, 96, false", "4, 64, false, 128, false",
            "4, 128, true, 256, false", "8, 32, false, 96, false", "8, 64, true, 128, false", "4, 32, false, 80, false",
            "8, 128, false, 80, false", "4, 32, false, 96, true", "4, 64, false, 80, true"})
    void runtimeComputesWithTheDequantizedWeights(int bits, int blockSize, boolean symmetric, int width, boolean hqq) {
        OnnxModel model = embeddingAndProjection(40, width, 48, bits * 1000L + width);
        GraphEditor editor = GraphEditor.of(model.graph());
        WeightLayers finder = new WeightLayers(model, Set.of(), true);
        List<WeightLayer> layers = finder.find(editor);
        assertEquals(2, layers.size(), finder.skippedNotes().toString());
        NBitsRewriter rewriter = new NBitsRewriter(editor, 0);
        GraphEditor reference = GraphEditor.of(model.graph());
        for (WeightLayer layer : layers) {
            // HQQ's float zero points go to MatMulNBits only; tables keep integer ones
            BlockQuantized q = hqq && layer.isProduct() ? Hqq.quantize(layer.matrix(), layer.rows(), layer.cols(), bits,
                    blockSize) : BlockRounding.quantize(layer.matrix(), layer.rows(), layer.cols(), bits, blockSize, symmetric);
            assertEquals(hqq && layer.isProduct(), q.fractionalZeroPoints());
            rewriter.rewrite(layer, q);
            float[] dq = q.dequantize();
            float[] asStored = layer.kind() == WeightLayer.Kind.GATHER ? dq : BlockRounding.transpose(dq, q.rows(), q.cols());
            reference.putInitializer(Tensor.ofFloats(new long[] {asStored.length / (layer.kind() == WeightLayer.Kind.GATHER
                    ? q.cols() : q.rows()), layer.kind() == WeightLayer.Kind.GATHER ? q.cols() : q.rows()}, asStored)
                    .toProto(layer.weight()));
        }
        OnnxModel quantized = rewriter.finish(model);
        List<String> ops = quantized.graph().getNodeList().stream().map(NodeProto::getOpType).toList();
        assertEquals(List.of("GatherBlockQuantized", "MatMulNBits"), ops);

        long[] idValues = new long[3 * 5];
        Random random = new Random(7);
        for (int i = 0; i < idValues.length; i++) {
            idValues[i] = random.nextInt(40);
        }
        Tensor ids = Tensor.ofLongs(new long[] {3, 5}, idValues);
        float[] expected = run(model.withGraph(reference.build()), ids);
        float[] actual = run(quantized, ids);
        float[] original = run(model, ids);
        double worst = 0;
        double scale = 0;
        for (int i = 0; i < expected.length; i++) {
            worst = Math.max(worst, Math.abs(expected[i] - actual[i]));
            scale = Math.max(scale, Math.abs(expected[i]));
        }
        assertTrue(worst <= 1e-4 * scale, "runtime differs from the Java dequantization by " + worst + " (outputs up to "
                + scale + ")");
        double error = 0;
        for (int i = 0; i < expected.length; i++) {
            error = Math.max(error, Math.abs(original[i] - actual[i]));
        }
        assertTrue(error > 0, "the weights were rounded");
    }
}
