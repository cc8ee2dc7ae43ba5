package io.modelrefinery.host.ort;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.GraphOptimizationLevel;
import io.modelrefinery.api.infer.InferenceException;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.SaveOptions;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OrtRuntimeTest {
    @TempDir
    Path dir;
    private final OrtRuntime runtime = new OrtRuntime();

    private InferenceService cpu() {
        return runtime.service(Device.CPU, dir.resolve("scratch"));
    }

    @Test
    void runsAModelAndMatchesAJavaComputation() {
        Tensor x = Tensor.ofFloats(new long[] {2, 4}, 1, 2, 3, 4, -1, 0.5f, 0, 2);
        try (InferenceSession session = cpu().open(TestModels.mlp())) {
            Tensor y = session.run(Map.of("x", x)).get("y");

            float[] expected = new float[6];
            float[] xs = x.toFloatArray();
            float[] b = {0.5f, -0.5f, 1f};
            for (int r = 0; r < 2; r++) {
                for (int c = 0; c < 3; c++) {
                    float sum = b[c];
                    for (int k = 0; k < 4; k++) {
                        sum += xs[r * 4 + k] * (k * 3 + c - 6) * 0.25f;
                    }
                    expected[r * 3 + c] = Math.max(0, sum);
                }
            }
            assertArrayEquals(expected, y.toFloatArray(), 1e-6f);
            assertArrayEquals(new long[] {2, 3}, y.shape());
            assertEquals(List.of(new TensorInfo("x", DataType.FLOAT, new long[] {-1, 4})), session.inputs());
            assertEquals(Device.CPU, session.device());
        }
    }

    @Test
    void aSessionWhoseThreadsSleepBetweenOperatorsComputesTheSame() {
        Tensor x = Tensor.ofFloats(new long[] {2, 4}, 1, 2, 3, 4, -1, 0.5f, 0, 2);
        SessionOptions sleeping = SessionOptions.defaults().withIntraOpThreads(2).withSpinning(false);
        try (InferenceSession a = cpu().open(TestModels.mlp(), sleeping);
             InferenceSession b = cpu().open(TestModels.mlp(), SessionOptions.defaults().withIntraOpThreads(2))) {
            assertEquals(b.run(Map.of("x", x)).get("y"), a.run(Map.of("x", x)).get("y"));
        }
        assertEquals(false, sleeping.spinning());
        assertEquals(true, SessionOptions.defaults().spinning(), "ONNX Runtime's own default");
        assertEquals(false, sleeping.withDevice(Device.CPU).withOptimization(GraphOptimizationLevel.BASIC).spinning(),
                "kept by the other withers");
    }

    @Test
    void aReaderSeesWhatARunCopiesInBuffersLentFromTheFirstRunWhereTheModelsTypesFixTheShapes() {
        // y is declared [N, 3] and x [N, 4]: y's buffer is lent from the first run of each batch; x, a graph input
        // handed back, is copied. NonZero's shape follows the data: the first run copies, and a later one whose
        // shape changed stops fitting the buffer and goes the copying way.
        GraphEditor editor = GraphEditor.of(TestModels.mlp().graph());
        editor.addNode(OnnxHelper.node("NonZero", List.of("y"), List.of("nonzero")));
        editor.addOutput("x").addOutput("nonzero");
        OnnxModel model = TestModels.mlp().withGraph(editor.build());
        try (InferenceSession session = cpu().open(model)) {
            for (int run = 0; run < 6; run++) {
                Tensor x = gaussian(run, run == 3 ? 3 : 2, 4);
                Map<String, Tensor> copied = session.run(Map.of("x", x), List.of("y", "x"));
                boolean lent = session.run(Map.of("x", x), List.of("y", "x"), outputs -> {
                    assertEquals(copied, outputs);
                    return outputs.get("y").data().isDirect() && !outputs.get("x").data().isDirect();
                });
                assertTrue(lent, "run " + run + " wrote y into a lent buffer and copied x");
            }
            Set<Long> nonZeros = new HashSet<>();
            for (int run = 0; run < 8; run++) {
                Tensor x = gaussian(run, 2, 4);
                Map<String, Tensor> copied = session.run(Map.of("x", x), List.of("y", "nonzero"));
                nonZeros.add(copied.get("nonzero").shape()[1]);
                boolean first = run == 0;
                boolean lent = session.run(Map.of("x", x), List.of("y", "nonzero"), outputs -> {
                    assertEquals(copied, outputs);
                    return outputs.get("y").data().isDirect();
                });
                if (first) {
                    assertEquals(false, lent, "NonZero's shape is learnt by a copying run");
                }
            }
            assertTrue(nonZeros.size() > 1, "the data changed NonZero's shape: " + nonZeros);
        }
    }

    @Test
    void anOutputWhoseShapeTheTypesLeaveOpenIsLentFromTheSecondRunOfAShape() {
        // NonZero's second dimension is the data's: the same x for each batch keeps it
        GraphEditor editor = GraphEditor.of(TestModels.mlp().graph());
        editor.addNode(OnnxHelper.node("NonZero", List.of("y"), List.of("nonzero")));
        editor.addOutput("nonzero");
        OnnxModel model = TestModels.mlp().withGraph(editor.build());
        try (InferenceSession session = cpu().open(model)) {
            for (int run = 0; run < 5; run++) {
                int rows = run == 2 ? 3 : 2;
                Tensor x = gaussian(rows, rows, 4);
                Map<String, Tensor> copied = session.run(Map.of("x", x), List.of("y", "nonzero"));
                boolean lent = session.run(Map.of("x", x), List.of("y", "nonzero"), outputs -> {
                    assertEquals(copied, outputs);
                    return outputs.get("nonzero").data().isDirect();
                });
                // run 0 and 2 (three rows) and 3 (two again) are the first of their shapes
                assertEquals(run != 0 && run != 2 && run != 3, lent, "run " + run + " wrote into lent buffers");
            }
        }
    }

    @Test
    void anOutputShapeTheTypesStateWronglyIsLearntFromTheRunThatCopiesIt() {
        // y is declared [N, 4] but is x twice over: [2N, 4]. The buffer lent from the declaration does not fit,
        // the run is made again copying, and its shape is kept for the next run with that batch.
        OnnxModel model = OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("doubled",
                List.of(OnnxHelper.node("Concat", List.of("x", "x"), List.of("y"), OnnxHelper.attr("axis", 0L))),
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, -1, 4)),
                List.of(OnnxHelper.valueInfo("y", DataType.FLOAT, -1, 4)), List.of()), 17));
        try (InferenceSession session = cpu().open(model)) {
            for (int run = 0; run < 3; run++) {
                Tensor x = gaussian(run, 2, 4);
                Map<String, Tensor> copied = session.run(Map.of("x", x), List.of("y"));
                assertArrayEquals(new long[] {4, 4}, copied.get("y").shape());
                boolean lent = session.run(Map.of("x", x), List.of("y"), outputs -> {
                    assertEquals(copied, outputs);
                    return outputs.get("y").data().isDirect();
                });
                assertEquals(run > 0, lent, "run " + run + " wrote into lent buffers");
            }
        }
    }

    private static Tensor gaussian(long seed, long... shape) {
        Random random = new Random(seed);
        float[] values = new float[(int) (shape[0] * shape[1])];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return Tensor.ofFloats(shape, values);
    }

    @Test
    void modelsWithExternalDataRunToo() throws Exception {
        Path file = dir.resolve("ext/model.onnx");
        java.nio.file.Files.createDirectories(file.getParent());
        TestModels.mlp().save(file, SaveOptions.external().withThreshold(0));
        OnnxModel external = OnnxModel.load(file);
        Tensor x = Tensor.ofFloats(new long[] {1, 4}, 1, 1, 1, 1);

        try (InferenceSession a = cpu().open(external); InferenceSession b = cpu().open(TestModels.mlp())) {
            assertTrue(external.hasExternalData());
            assertEquals(b.run(Map.of("x", x)).get("y"), a.run(Map.of("x", x)).get("y"));
        }
    }

    @Test
    void infersTheTypeOfEveryValue() throws Exception {
        Map<String, TensorInfo> types = cpu().valueTypes(TestModels.sampleCnn());

        assertEquals(DataType.FLOAT, types.get("/Reshape_output_0").type());
        assertArrayEquals(new long[] {-1, 12, 26, 26}, types.get("/c1/Conv_output_0").shape());
        assertEquals(DataType.INT64, types.get("/Constant_output_0").type());
        assertEquals(DataType.FLOAT, types.get("c1.weight").type());
    }

    @Test
    void optimizesOffline() throws Exception {
        OnnxModel model = TestModels.sampleCnn();
        OnnxModel optimized = cpu().optimize(model, GraphOptimizationLevel.EXTENDED);

        assertTrue(optimized.graph().getNodeCount() < model.graph().getNodeCount());
        Tensor images = TestModels.randomImages(1, 4, 28, 28);
        try (InferenceSession a = cpu().open(model); InferenceSession b = cpu().open(optimized)) {
            assertArrayEquals(a.run(Map.of("input", images)).get("output").toFloatArray(),
                    b.run(Map.of("input", images)).get("output").toFloatArray(), 1e-6f);
        }
    }

    /**
     * At ALL, ONNX Runtime names its NCHWc ReorderOutput nodes in an order that depends on memory addresses
     * (optimizing the sample twice in one process swapped two names); the service names them after their
     * outputs, so the bytes repeat. On a CPU without NCHWc kernels there are no such nodes and the bytes repeat
     * anyway.
     */
    @Test
    void optimizingTwiceAtLevelAllGivesTheSameModel() throws Exception {
        OnnxModel model = TestModels.sampleCnn();
        OnnxModel first = cpu().optimize(model, GraphOptimizationLevel.ALL);
        for (int i = 0; i < 3; i++) {
            assertEquals(first.proto(), cpu().optimize(model, GraphOptimizationLevel.ALL).proto(), "optimization " + (i + 2));
        }
        for (var node : first.graph().getNodeList()) {
            if (node.getOpType().equals("ReorderOutput")) {
                assertEquals(node.getOutput(0) + "_ReorderOutput", node.getName());
            }
        }
    }

    @Test
    void reorderOutputNodesAreNamedAfterTheirOutputs() {
        var graph = io.modelrefinery.api.onnx.OnnxHelper.graph("g", List.of(
                        reorder("ReorderOutput_token_5", "a_nchwc", "a"), reorder("ReorderOutput", "b_nchwc", "b"),
                        io.modelrefinery.api.onnx.OnnxHelper.node("Add", List.of("a", "b"), List.of("y")).toBuilder()
                                .setName("a_ReorderOutput").build()),
                List.of(), List.of(), List.of());
        var swapped = graph.toBuilder().setNode(0, graph.getNode(0).toBuilder().setName("ReorderOutput"))
                .setNode(1, graph.getNode(1).toBuilder().setName("ReorderOutput_token_5")).build();

        OnnxModel a = OptimizedNodeNames.normalize(OnnxModel.of(io.modelrefinery.api.onnx.OnnxHelper.model(graph, 17)));
        OnnxModel b = OptimizedNodeNames.normalize(OnnxModel.of(io.modelrefinery.api.onnx.OnnxHelper.model(swapped, 17)));

        assertEquals(a.proto(), b.proto());
        assertEquals(List.of("a_ReorderOutput_1", "b_ReorderOutput", "a_ReorderOutput"),
                a.graph().getNodeList().stream().map(n -> n.getName()).toList(), "a name another node has is not reused");
    }

    /** ONNX Runtime's NCHWc transformer works inside If, Loop and Scan bodies too. */
    @Test
    void reorderOutputNodesInSubgraphsAreNamedAfterTheirOutputs() {
        var branch = io.modelrefinery.api.onnx.OnnxHelper.graph("then", List.of(
                reorder("ReorderOutput_token_2", "c_nchwc", "c")), List.of(), List.of(), List.of());
        var other = io.modelrefinery.api.onnx.OnnxHelper.graph("else", List.of(
                reorder("ReorderOutput", "d_nchwc", "d")), List.of(), List.of(), List.of());
        var graph = io.modelrefinery.api.onnx.OnnxHelper.graph("g", List.of(
                reorder("ReorderOutput_token_5", "a_nchwc", "a"),
                io.modelrefinery.api.onnx.OnnxHelper.node("If", List.of("cond"), List.of("y"),
                        io.modelrefinery.api.onnx.OnnxHelper.attr("then_branch", branch),
                        io.modelrefinery.api.onnx.OnnxHelper.attr("else_branch", other))),
                List.of(), List.of(), List.of());

        OnnxModel named = OptimizedNodeNames.normalize(OnnxModel.of(io.modelrefinery.api.onnx.OnnxHelper.model(graph, 17)));

        assertEquals("a_ReorderOutput", named.graph().getNode(0).getName());
        var ifNode = named.graph().getNode(1);
        assertEquals("c_ReorderOutput", ifNode.getAttribute(0).getG().getNode(0).getName());
        assertEquals("d_ReorderOutput", ifNode.getAttribute(1).getG().getNode(0).getName());
    }

    private static io.modelrefinery.api.onnx.proto.Onnx.NodeProto reorder(String name, String in, String out) {
        return io.modelrefinery.api.onnx.OnnxHelper.node("ReorderOutput", List.of(in), List.of(out)).toBuilder()
                .setName(name).setDomain(OptimizedNodeNames.NCHWC_DOMAIN).build();
    }

    @Test
    void optimizesAModelWhoseWeightsAreExternalData() throws Exception {
        Path file = dir.resolve("external/cnn.onnx");
        java.nio.file.Files.createDirectories(file.getParent());
        TestModels.sampleCnn().save(file, io.modelrefinery.api.onnx.SaveOptions.external());
        OnnxModel model = OnnxModel.load(file);

        OnnxModel optimized = cpu().optimize(model, GraphOptimizationLevel.EXTENDED);

        assertTrue(model.hasExternalData());
        assertTrue(!optimized.hasExternalData(), "the result holds its weights itself");
        Tensor images = TestModels.randomImages(2, 4, 28, 28);
        try (InferenceSession a = cpu().open(model); InferenceSession b = cpu().open(optimized)) {
            assertArrayEquals(a.run(Map.of("input", images)).get("output").toFloatArray(),
                    b.run(Map.of("input", images)).get("output").toFloatArray(), 1e-6f);
        }
    }

    @Test
    void reportsWhatOnnxRuntimeRefusesOnOneLine() {
        OnnxModel broken = OnnxModel.of(TestModels.mlp().proto().toBuilder()
                .setGraph(TestModels.mlp().graph().toBuilder().setNode(0,
                        io.modelrefinery.api.onnx.OnnxHelper.node("NoSuchOp", List.of("x", "w"), List.of("mm"))))
                .build());

        InferenceException e = assertThrows(InferenceException.class, () -> cpu().open(broken));

        assertTrue(e.getMessage().startsWith("ONNX Runtime cannot open the model: "), e.getMessage());
        assertTrue(e.getMessage().contains("NoSuchOp"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
    }

    @Test
    void devicesResolveAsAskedOrSayWhyNot() {
        assertEquals(new DeviceChoice(Device.CPU, null), runtime.resolve(DeviceRequest.CPU));
        String problem = runtime.cudaProblem();
        if (problem.isEmpty()) {
            assertEquals(Device.CUDA, runtime.resolve(DeviceRequest.CUDA).device());
            assertEquals(Device.CUDA, runtime.resolve(DeviceRequest.AUTO).device());
            assertNull(runtime.resolve(DeviceRequest.AUTO).note());
        } else {
            InvalidInputException e = assertThrows(InvalidInputException.class, () -> runtime.resolve(DeviceRequest.CUDA));
            assertEquals("--device cuda: " + problem, e.getMessage());
            assertEquals(new DeviceChoice(Device.CPU, "auto chose cpu: " + problem), runtime.resolve(DeviceRequest.AUTO));
        }
    }
}
