package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.testkit.ConformanceCase;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.SampleData;
import io.modelrefinery.testkit.TransformConformanceTest;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * quantize-weights against the plugin conformance rules with each method (round to nearest, HQQ, GPTQ on 32
 * random images), 4 and 8 bits, symmetric grids and integer compute.
 */
class QuantizeWeightsConformanceTest extends TransformConformanceTest {
    @Override
    protected ModelTransform transform() {
        return new QuantizeWeightsTransform();
    }

    @Override
    protected List<ConformanceCase> cases() {
        Path images = SampleData.npz(conformanceDir.resolve("images.npz"),
                Map.of("input", SampleData.randomImages(3, 32, 28, 28)));
        return List.of(ConformanceCase.onnx("rtn-4", ConformanceModels.sampleCnn()),
                ConformanceCase.onnx("rtn-8-symmetric-int8-compute", ConformanceModels.sampleCnn())
                        .withParams(Map.of("bits", "8", "symmetric", "true", "compute", "int8", "block-size", "16")),
                ConformanceCase.onnx("hqq", ConformanceModels.sampleCnn()).withParams(Map.of("method", "hqq")),
                ConformanceCase.onnx("gptq", ConformanceModels.sampleCnn())
                        .withParams(Map.of("method", "gptq", "max-samples", "16"))
                        .withData(DataRole.CALIBRATION, images),
                ConformanceCase.onnx("mlp", ConformanceModels.mlp()));
    }

    @Override
    protected List<Map<String, String>> invalidParams() {
        return List.of(Map.of("bits", "3"), Map.of("block-size", "48"), Map.of("op-types", "[Conv]"));
    }
}
