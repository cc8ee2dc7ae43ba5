package io.modelrefinery.plugin.graphoptimize;

import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.testkit.ConformanceCase;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.TransformConformanceTest;

import java.util.List;
import java.util.Map;

/**
 * graph-optimize against the plugin conformance rules at its basic and extended (default) levels. Level
 * {@code all} is left out for now: run twice in one process its outputs differ (same size, first difference
 * at byte 385 of the sample's; two separate CLI runs give identical files), which the determinism rule
 * refuses. The cause is not found yet; names ONNX Runtime generates for what its layout rewrites add are
 * the first suspect.
 */
class GraphOptimizeConformanceTest extends TransformConformanceTest {
    @Override
    protected ModelTransform transform() {
        return new GraphOptimizeTransform();
    }

    @Override
    protected List<ConformanceCase> cases() {
        return List.of(ConformanceCase.onnx("sample-cnn", ConformanceModels.sampleCnn()),
                ConformanceCase.onnx("mlp-basic", ConformanceModels.mlp()).withParams(Map.of("level", "basic")));
    }
}
