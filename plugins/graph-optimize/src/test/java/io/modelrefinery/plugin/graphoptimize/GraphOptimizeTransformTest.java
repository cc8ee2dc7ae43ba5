package io.modelrefinery.plugin.graphoptimize;

import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.LocalRun;
import io.modelrefinery.host.pipeline.PipelineResult;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GraphOptimizeTransformTest {
    @TempDir
    Path dir;

    private float[] run(OnnxModel model, Tensor input) {
        try (InferenceSession session = new OrtRuntime().service(Device.CPU, dir).open(model)) {
            return session.run(Map.of("input", input)).get("output").toFloatArray();
        }
    }

    @Test
    void everyLevelKeepsTheResultsAndBasicKeepsStandardOperators() throws Exception {
        OnnxModel model = TestModels.sampleCnn();
        Tensor input = TestModels.randomImages(7, 16, 28, 28);
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
        OnnxModel optimized = LocalRun.of(new GraphOptimizeTransform()).run("graph-optimize", TestModels.sampleCnn(), dir)
                .output().onnxModel();

        assertTrue(optimized.graph().getNodeList().stream().noneMatch(n -> n.getOpType().equals("Relu")),
                "Relu folded into the convolutions");
    }
}
