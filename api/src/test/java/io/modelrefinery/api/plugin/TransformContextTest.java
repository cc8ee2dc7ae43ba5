package io.modelrefinery.api.plugin;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.InferenceService;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Data by role on a context that implements only the three methods of api 1.4, as an older host does. */
class TransformContextTest {
    @TempDir
    Path dir;

    @Test
    void dataByRoleAnswersThroughTheOlderMethodsAndRequireDataNamesTheMissingRole() throws Exception {
        Path file = dir.resolve("cal.npz");
        Datasets.writeNpz(file, Map.of("input", io.modelrefinery.api.onnx.Tensor.ofFloats(new long[] {2, 3}, new float[6])));
        Dataset calibration = Datasets.open(file, "input");
        TransformContext older = new TransformContext() {
            @Override
            public InferenceService inference() {
                throw new UnsupportedOperationException();
            }

            @Override
            public Optional<Dataset> calibrationData() {
                return Optional.of(calibration);
            }

            @Override
            public Optional<Dataset> evaluationData() {
                return Optional.empty();
            }

            @Override
            public Optional<Dataset> trainingData() {
                return Optional.empty();
            }

            @Override
            public Progress progress() {
                return Progress.none();
            }

            @Override
            public Cancellation cancellation() {
                return Cancellation.never();
            }

            @Override
            public Path scratchDirectory() {
                return dir;
            }

            @Override
            public Logger logger() {
                return LoggerFactory.getLogger("test");
            }
        };

        assertSame(calibration, older.data(DataRole.CALIBRATION).orElseThrow());
        assertSame(calibration, older.requireData(DataRole.CALIBRATION));
        assertEquals(Optional.empty(), older.data(DataRole.TRAINING));
        assertEquals("the host ran this step without the training samples its descriptor requires",
                assertThrows(IllegalStateException.class, () -> older.requireData(DataRole.TRAINING)).getMessage());
    }
}
