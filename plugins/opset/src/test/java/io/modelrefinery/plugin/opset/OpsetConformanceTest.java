package io.modelrefinery.plugin.opset;

import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.testkit.ConformanceCase;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.TransformConformanceTest;

import java.util.List;
import java.util.Map;

/** opset against the plugin conformance rules: to the newest operator set (the default) and to others, up and down. */
class OpsetConformanceTest extends TransformConformanceTest {
    @Override
    protected ModelTransform transform() {
        return new OpsetTransform();
    }

    @Override
    protected List<ConformanceCase> cases() {
        return List.of(ConformanceCase.onnx("newest", ConformanceModels.sampleCnn()),
                ConformanceCase.onnx("to-21", ConformanceModels.sampleCnn()).withParams(Map.of("target", "21")),
                ConformanceCase.onnx("mlp-to-18", ConformanceModels.mlp()).withParams(Map.of("target", "18")),
                ConformanceCase.onnx("mlp-down-to-15", ConformanceModels.mlp()).withParams(Map.of("target", "15")));
    }
}
