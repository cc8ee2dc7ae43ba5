package io.modelrefinery.plugin.keras;

import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.testkit.ConformanceCase;
import io.modelrefinery.testkit.TransformConformanceTest;

import java.nio.file.Path;
import java.util.List;

/**
 * keras-to-onnx against the plugin conformance rules on each file layout it reads: a Keras 3 {@code .keras}
 * zip, a Keras 2 HDF5 file and a Keras 1 one (channels-first, Theano kernels).
 */
class KerasConformanceTest extends TransformConformanceTest {
    private static final Path FIXTURES = Path.of("src/test/fixtures");

    @Override
    protected ModelTransform transform() {
        return new KerasToOnnxTransform();
    }

    @Override
    protected List<ConformanceCase> cases() {
        return List.of(ConformanceCase.file("keras3-zip", FIXTURES.resolve("seed_cnn.keras"), ModelFormat.KERAS),
                ConformanceCase.file("keras2-hdf5", FIXTURES.resolve("seed_cnn.h5"), ModelFormat.KERAS),
                ConformanceCase.file("keras1-theano-hdf5", FIXTURES.resolve("keras1_cnn_th.h5"), ModelFormat.KERAS));
    }
}
