package io.modelrefinery.plugin.distill;

import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.testkit.ConformanceCase;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.SampleData;
import io.modelrefinery.testkit.TransformConformanceTest;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * distill against the plugin conformance rules in its modes: a narrowed student with Adam, and a same-size
 * student with SGD that is also scored on evaluation data. The data are 32 random images with labels, so
 * each run is one short epoch; what is learnt is {@link DistillTransformTest}'s subject.
 */
class DistillConformanceTest extends TransformConformanceTest {
    @Override
    protected ModelTransform transform() {
        return new DistillTransform();
    }

    @Override
    protected List<ConformanceCase> cases() {
        Path data = images(conformanceDir.resolve("train.npz"));
        return List.of(
                ConformanceCase.onnx("half-width-adam", ConformanceModels.sampleCnn())
                        .withParams(Map.of("epochs", "1", "batch-size", "16"))
                        .withData(DataRole.TRAINING, data),
                ConformanceCase.onnx("full-width-sgd-evaluated", ConformanceModels.sampleCnn())
                        .withParams(Map.of("epochs", "1", "batch-size", "16", "student-width", "1", "optimizer", "sgd"))
                        .withData(DataRole.TRAINING, data)
                        .withData(DataRole.EVALUATION, data));
    }

    @Override
    protected List<Map<String, String>> invalidParams() {
        return List.of(Map.of("student-width", "0"), Map.of("epochs", "0"), Map.of("optimizer", "lbfgs"));
    }

    private static Path images(Path file) {
        long[] labels = new long[32];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = i % 2;
        }
        Map<String, Tensor> arrays = new LinkedHashMap<>();
        arrays.put("input", SampleData.randomImages(5, 32, 28, 28));
        arrays.put("labels", Tensor.ofLongs(new long[] {32}, labels));
        try {
            Datasets.writeNpz(file, arrays);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }
}
