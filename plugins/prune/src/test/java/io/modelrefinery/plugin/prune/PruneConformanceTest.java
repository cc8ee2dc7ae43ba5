package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.testkit.ConformanceCase;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.SampleData;
import io.modelrefinery.testkit.TransformConformanceTest;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * prune against the plugin conformance rules in each of its modes: magnitude (unstructured on the sample CNN,
 * 2:4 over a global budget on the MLP), reconstruct, channel, sparsegpt, and pruning while fine-tuning the
 * ten-class CNN. The data are a few random images (with labels for fine-tuning), so each run is quick; what
 * each method achieves is the other tests' subject.
 */
class PruneConformanceTest extends TransformConformanceTest {
    @Override
    protected ModelTransform transform() {
        return new PruneTransform();
    }

    @Override
    protected List<ConformanceCase> cases() {
        Path images = SampleData.npz(conformanceDir.resolve("calibration.npz"),
                Map.of("input", SampleData.randomImages(3, 16, 28, 28)));
        return List.of(
                ConformanceCase.onnx("magnitude", ConformanceModels.sampleCnn()),
                ConformanceCase.onnx("mlp-2:4-global", ConformanceModels.mlp())
                        .withParams(Map.of("pattern", "2:4", "scope", "global")),
                ConformanceCase.onnx("reconstruct", ConformanceModels.sampleCnn())
                        .withParams(Map.of("method", "reconstruct", "sparsity", "0.7", "max-samples", "8"))
                        .withData(DataRole.CALIBRATION, images),
                ConformanceCase.onnx("channel", ConformanceModels.sampleCnn())
                        .withParams(Map.of("pattern", "channel", "sparsity", "0.25")),
                ConformanceCase.onnx("sparsegpt", ConformanceModels.sampleCnn())
                        .withParams(Map.of("method", "sparsegpt", "batch-size", "8", "max-samples", "8"))
                        .withData(DataRole.CALIBRATION, images),
                ConformanceCase.onnx("finetune", ConformanceModels.tenClassCnn())
                        .withParams(Map.of("finetune", "1", "initial-sparsity", "0.25", "batch-size", "16"))
                        .withData(DataRole.TRAINING, labelled(conformanceDir.resolve("train.npz"))));
    }

    @Override
    protected List<Map<String, String>> invalidParams() {
        return List.of(Map.of("pattern", "4:2"), Map.of("pattern", "blocks"),
                Map.of("sparsity", "0.5", "initial-sparsity", "0.7", "finetune", "1"),
                Map.of("layer-sparsity", "[c1.weight=1.5]"));
    }

    /** 32 random images labelled 0..9 in turn, for the ten-class CNN. */
    private static Path labelled(Path file) {
        long[] labels = new long[32];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = i % 10;
        }
        Map<String, Tensor> arrays = new LinkedHashMap<>();
        arrays.put("input", SampleData.randomImages(5, 32, 28, 28));
        arrays.put("labels", Tensor.ofLongs(new long[] {32}, labels));
        return SampleData.npz(file, arrays);
    }
}
