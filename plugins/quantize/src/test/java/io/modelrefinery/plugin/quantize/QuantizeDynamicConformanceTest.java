package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.testkit.ConformanceCase;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.TransformConformanceTest;

import java.util.List;
import java.util.Map;

/**
 * quantize-dynamic against the plugin conformance rules with each way of treating convolutions (weight-only,
 * the default; ConvInteger; left float) and both weight types, per tensor and per channel.
 */
class QuantizeDynamicConformanceTest extends TransformConformanceTest {
    @Override
    protected ModelTransform transform() {
        return new QuantizeDynamicTransform();
    }

    @Override
    protected List<ConformanceCase> cases() {
        return List.of(ConformanceCase.onnx("weight-only-conv", ConformanceModels.sampleCnn()),
                ConformanceCase.onnx("conv-integer-per-channel", ConformanceModels.sampleCnn())
                        .withParams(Map.of("conv", "integer", "per-channel", "true")),
                ConformanceCase.onnx("conv-skipped-uint8-reduced", ConformanceModels.sampleCnn())
                        .withParams(Map.of("conv", "skip", "weight-type", "uint8", "reduce-range", "true")),
                ConformanceCase.onnx("mlp-uint8", ConformanceModels.mlp()).withParams(Map.of("weight-type", "uint8")));
    }

    @Override
    protected List<Map<String, String>> invalidParams() {
        return List.of(Map.of("op-types", "[Relu]"), Map.of("weight-type", "int4"));
    }
}
