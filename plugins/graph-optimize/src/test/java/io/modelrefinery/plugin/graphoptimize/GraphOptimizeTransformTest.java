package io.modelrefinery.plugin.graphoptimize;

import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.LocalRun;
import io.modelrefinery.host.pipeline.PipelineResult;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GraphOptimizeTransformTest {
    @TempDir
    Path dir;

    private static OnnxModel sample() throws Exception {
        return OnnxModel.load(Path.of(System.getProperty("refinery.root")).resolve("samples/seed_cnn_binary.onnx"));
    }

    private static Tensor images(int n) {
        Random random = new Random(7);
        float[] pixels = new float[n * 28 * 28];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = random.nextFloat();
        }
        return Tensor.ofFloats(new long[] {n, 28, 28}, pixels);
    }

    private float[] run(OnnxModel model, Tensor input) {
        try (InferenceSession session = new OrtRuntime().service(Device.CPU, dir).open(model)) {
            return session.run(Map.of("input", input)).get("output").toFloatArray();
        }
    }

    @Test
    void everyLevelKeepsTheResultsAndBasicKeepsStandardOperators() throws Exception {
        OnnxModel model = sample();
        Tensor input = images(16);
        float[] expected = run(model, input);

        for (String level : new String[] {"basic", "extended", "all"}) {
            PipelineResult result = LocalRun.of(new GraphOptimizeTransform())
                    .run("graph-optimize(level=" + level + ")", model, dir);
            OnnxModel optimized = result.output().onnxModel();

            assertArrayEquals(expected, run(optimized, input), 1e-5f, level);
            assertEquals((double) model.graph().getNodeCount(), result.steps().get(0).metrics().get("nodes-before"));
            assertEquals((double) optimized.graph().getNodeCount(), result.steps().get(0).metrics().get("nodes-after"));
            assertTrue(optimized.graph().getNodeCount() < model.graph().getNodeCount(), level);
            if (level.equals("basic")) {
                for (NodeProto node : optimized.graph().getNodeList()) {
                    assertEquals("", node.getDomain(), node.getOpType() + " comes from ONNX's own domain");
                }
            }
        }
    }

    @Test
    void fusesConvolutionsWithTheirActivationsFromExtendedOn() throws Exception {
        OnnxModel optimized = LocalRun.of(new GraphOptimizeTransform()).run("graph-optimize", sample(), dir)
                .output().onnxModel();

        assertTrue(optimized.graph().getNodeList().stream().noneMatch(n -> n.getOpType().equals("Relu")),
                "Relu folded into the convolutions");
    }
}
