package io.modelrefinery.plugin.tflite;

import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.testkit.ConformanceCase;
import io.modelrefinery.testkit.TransformConformanceTest;

import java.nio.file.Path;
import java.util.List;

/**
 * tflite-to-onnx against the plugin conformance rules on each kind of model it reads: float32 and fully
 * int8-quantized (which it writes as QDQ), on the sample CNN and on the zoo model.
 */
class TfliteConformanceTest extends TransformConformanceTest {
    private static final Path FIXTURES = Path.of("src/test/fixtures");

    @Override
    protected ModelTransform transform() {
        return new TfliteToOnnxTransform();
    }

    @Override
    protected List<ConformanceCase> cases() {
        return List.of(ConformanceCase.file("float32", FIXTURES.resolve("seed_cnn.tflite"), ModelFormat.TFLITE),
                ConformanceCase.file("int8", FIXTURES.resolve("seed_cnn_int8.tflite"), ModelFormat.TFLITE),
                ConformanceCase.file("zoo-int8", FIXTURES.resolve("zoo_int8.tflite"), ModelFormat.TFLITE));
    }
}
