package io.modelrefinery.plugin.graphoptimize;

import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.HarnessResult;
import io.modelrefinery.testkit.ModelOutputs;
import io.modelrefinery.testkit.PluginHarness;
import io.modelrefinery.testkit.SampleData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GraphOptimizeTransformTest {
    @TempDir
    Path dir;

    private float[] run(OnnxModel model, Tensor input) {
        return ModelOutputs.floats(PluginHarness.inference(dir), model, "input", input, "output");
    }

    @Test
    void everyLevelKeepsTheResultsAndBasicKeepsStandardOperators() throws Exception {
        OnnxModel model = ConformanceModels.sampleCnn();
        Tensor input = SampleData.randomImages(7, 16, 28, 28);
        float[] expected = run(model, input);

        for (String level : new String[] {"basic", "extended", "all"}) {
            HarnessResult result = PluginHarness.of(new GraphOptimizeTransform())
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
        OnnxModel optimized = PluginHarness.of(new GraphOptimizeTransform()).run("graph-optimize", ConformanceModels.sampleCnn(), dir)
                .output().onnxModel();

        assertTrue(optimized.graph().getNodeList().stream().noneMatch(n -> n.getOpType().equals("Relu")),
                "Relu folded into the convolutions");
    }
}
