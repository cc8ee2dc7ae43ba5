package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.testkit.ConformanceCase;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.TransformConformanceTest;

import java.util.List;
import java.util.Map;

/** clip against the plugin conformance rules with each of its rules: the percentile (default and 95) and sigmas. */
class ClipConformanceTest extends TransformConformanceTest {
    @Override
    protected ModelTransform transform() {
        return new ClipTransform();
    }

    @Override
    protected List<ConformanceCase> cases() {
        return List.of(ConformanceCase.onnx("percentile", ConformanceModels.sampleCnn()),
                ConformanceCase.onnx("percentile-95-gemm-only", ConformanceModels.sampleCnn())
                        .withParams(Map.of("percentile", "95", "op-types", "[Gemm]")),
                ConformanceCase.onnx("sigma", ConformanceModels.sampleCnn())
                        .withParams(Map.of("method", "sigma", "sigmas", "2")),
                ConformanceCase.onnx("mlp-sigma", ConformanceModels.mlp()).withParams(Map.of("method", "sigma")));
    }

    @Override
    protected List<Map<String, String>> invalidParams() {
        return List.of(Map.of("percentile", "40"), Map.of("sigmas", "0"), Map.of("op-types", "[Relu]"));
    }
}
