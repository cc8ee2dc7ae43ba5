package com.example.refinery.roundweights;

import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.testkit.ConformanceCase;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.TransformConformanceTest;

import java.util.List;
import java.util.Map;

/**
 * The plugin conformance rules, from refinery-plugin-testkit: descriptor documented, input untouched,
 * byte-identical output, cancellation honoured, invalid parameters refused before work, output valid.
 */
class RoundWeightsConformanceTest extends TransformConformanceTest {
    @Override
    protected ModelTransform transform() {
        return new RoundWeightsTransform();
    }

    @Override
    protected List<ConformanceCase> cases() {
        return List.of(ConformanceCase.onnx("sample-cnn", ConformanceModels.sampleCnn()),
                ConformanceCase.onnx("mlp-4-bits", ConformanceModels.mlp()).withParams(Map.of("bits", "4", "exclude-nodes", "[b]")));
    }

    @Override
    protected List<Map<String, String>> invalidParams() {
        return List.of(Map.of("bits", "0"), Map.of("bits", "25"), Map.of("exclude-nodes", "[no spaces allowed]"));
    }
}
