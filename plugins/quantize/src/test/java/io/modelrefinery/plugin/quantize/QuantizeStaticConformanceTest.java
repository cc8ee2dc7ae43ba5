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
 * quantize-static against the plugin conformance rules with each calibration method and both activation types:
 * min-max per channel (the defaults), percentile with symmetric int8 activations per tensor, and entropy with a
 * reduced range, on 32 random images; and the MLP, whose input is named {@code x}.
 */
class QuantizeStaticConformanceTest extends TransformConformanceTest {
    @Override
    protected ModelTransform transform() {
        return new QuantizeStaticTransform();
    }

    @Override
    protected List<ConformanceCase> cases() {
        Path images = SampleData.npz(conformanceDir.resolve("images.npz"),
                Map.of("input", SampleData.randomImages(3, 32, 28, 28)));
        Path rows = SampleData.npz(conformanceDir.resolve("rows.npz"), Map.of("x", SampleData.randomImages(4, 32, 4)));
        return List.of(
                ConformanceCase.onnx("min-max", ConformanceModels.sampleCnn()).withData(DataRole.CALIBRATION, images),
                ConformanceCase.onnx("percentile-int8-symmetric-per-tensor", ConformanceModels.sampleCnn())
                        .withParams(Map.of("method", "percentile", "percentile", "99.9", "activation-type", "int8",
                                "symmetric-activations", "true", "per-channel", "false"))
                        .withData(DataRole.CALIBRATION, images),
                ConformanceCase.onnx("entropy-reduced-range", ConformanceModels.sampleCnn())
                        .withParams(Map.of("method", "entropy", "bins", "512", "reduce-range", "true", "batch-size", "8"))
                        .withData(DataRole.CALIBRATION, images),
                ConformanceCase.onnx("mlp", ConformanceModels.mlp()).withData(DataRole.CALIBRATION, rows));
    }

    @Override
    protected List<Map<String, String>> invalidParams() {
        return List.of(Map.of("percentile", "500"), Map.of("op-types", "[Conv,Attention]"), Map.of("method", "kl"));
    }
}
