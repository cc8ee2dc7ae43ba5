package io.modelrefinery.plugin.graphoptimize;

import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.testkit.ConformanceCase;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.TransformConformanceTest;

import java.util.List;
import java.util.Map;

/**
 * graph-optimize against the plugin conformance rules at each level. Level {@code all} repeats its bytes
 * because the host's ONNX Runtime service names the NCHWc ReorderOutput nodes after their outputs: ONNX
 * Runtime itself names them in an order that depends on memory addresses, which made two runs in one process
 * differ.
 */
class GraphOptimizeConformanceTest extends TransformConformanceTest {
    @Override
    protected ModelTransform transform() {
        return new GraphOptimizeTransform();
    }

    @Override
    protected List<ConformanceCase> cases() {
        return List.of(ConformanceCase.onnx("sample-cnn", ConformanceModels.sampleCnn()),
                ConformanceCase.onnx("mlp-basic", ConformanceModels.mlp()).withParams(Map.of("level", "basic")),
                ConformanceCase.onnx("sample-cnn-all", ConformanceModels.sampleCnn()).withParams(Map.of("level", "all")));
    }
}
