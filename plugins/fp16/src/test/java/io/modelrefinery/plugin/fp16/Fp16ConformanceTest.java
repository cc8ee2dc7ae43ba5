package io.modelrefinery.plugin.fp16;

import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.testkit.ConformanceCase;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.TransformConformanceTest;

import java.util.List;
import java.util.Map;

/**
 * fp16 against the plugin conformance rules, with its defaults, with float16 inputs and outputs, and with operators
 * kept in float32 behind casts.
 */
class Fp16ConformanceTest extends TransformConformanceTest {
    @Override
    protected ModelTransform transform() {
        return new Fp16Transform();
    }

    @Override
    protected List<ConformanceCase> cases() {
        return List.of(ConformanceCase.onnx("sample-cnn", ConformanceModels.sampleCnn()),
                ConformanceCase.onnx("mlp-all-half", ConformanceModels.mlp())
                        .withParams(Map.of("keep-io-types", "false", "exclude-op-types", "[]")),
                ConformanceCase.onnx("relu-gemm-kept-float32", ConformanceModels.sampleCnn())
                        .withParams(Map.of("exclude-op-types", "[Relu,Gemm]")));
    }

    @Override
    protected List<Map<String, String>> invalidParams() {
        return List.of(Map.of("exclude-op-types", "[Conv;Relu]"), Map.of("exclude-nodes", "[a b]"));
    }
}
