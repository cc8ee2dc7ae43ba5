package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.plugin.FileArtifact;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformKind;
import io.modelrefinery.api.plugin.TransformResult;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.host.testing.TestTransforms;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** How a plan routes a model whose format the first step cannot read through a converter. */
class PipelinePlanTest {
    @TempDir
    Path dir;

    /** A transform of {@code kind} from {@code from} to {@code to} that records the artifacts it sees. */
    private static ModelTransform transform(String id, TransformKind kind, ModelFormat from, ModelFormat to,
                                            List<ModelArtifact> seen) {
        TransformDescriptor descriptor = TransformDescriptor.builder(id).version("2.0.0").kind(kind).accepts(from)
                .produces(to).summary("test").build();
        return TestTransforms.of(descriptor, (c, input, p) -> {
            seen.add(input);
            return to.equals(ModelFormat.ONNX) ? TransformResult.of(TestModels.mlp())
                    : TransformResult.of(ModelArtifact.file(((FileArtifact) input).path(), to));
        });
    }

    /** A converter from {@code from} to {@code to} with no parameters, for other tests of plans. */
    static ModelTransform converterFor(String id, ModelFormat from, ModelFormat to) {
        return converter(id, from, to, new ArrayList<>());
    }

    private static ModelTransform converter(String id, ModelFormat from, ModelFormat to, List<ModelArtifact> seen) {
        return transform(id, TransformKind.CONVERTER, from, to, seen);
    }

    private static ModelTransform optimizer(String id, List<ModelArtifact> seen) {
        return transform(id, TransformKind.OPTIMIZER, ModelFormat.ONNX, ModelFormat.ONNX, seen);
    }

    private static List<String> ids(PipelinePlan plan) {
        return plan.steps().stream().map(s -> s.descriptor().id()).toList();
    }

    @Test
    void aKerasModelGoesThroughTheKerasConverterBeforeTheFirstStep() throws Exception {
        List<ModelArtifact> seen = new ArrayList<>();
        Path keras = Files.writeString(dir.resolve("model.keras"), "weights");
        LocalRun run = LocalRun.of(optimizer("keep", seen), converter("tflite-to-onnx", ModelFormat.TFLITE,
                ModelFormat.ONNX, seen), converter("keras-to-onnx", ModelFormat.KERAS, ModelFormat.ONNX, seen));

        PipelineResult result = run.run("keep", ModelArtifact.file(keras, ModelFormat.KERAS), dir);

        assertEquals(List.of("keras-to-onnx", "keep"), result.steps().stream().map(StepRecord::transform).toList());
        assertEquals("2.0.0", result.steps().get(0).version());
        assertEquals(ModelArtifact.file(keras, ModelFormat.KERAS), seen.get(0));
        assertEquals(ModelFormat.ONNX, seen.get(1).format());
        assertEquals(ModelFormat.ONNX, result.output().format());
    }

    @Test
    void thePlanSaysWhichConverterItAdded() {
        List<ModelArtifact> seen = new ArrayList<>();
        TransformCatalog catalog = TransformCatalog.of(optimizer("keep", seen),
                converter("keras-to-onnx", ModelFormat.KERAS, ModelFormat.ONNX, seen));

        try (PipelinePlan plan = PipelinePlan.create(PipelineSpec.parse("keep"), ModelFormat.KERAS, catalog)) {
            assertEquals(List.of("keras-to-onnx", "keep"), ids(plan));
            assertEquals(List.of("converted the keras model with keras-to-onnx 2.0.0 before the pipeline"), plan.notes());
        }
        try (PipelinePlan plan = PipelinePlan.create(PipelineSpec.parse("keep"), ModelFormat.ONNX, catalog)) {
            assertEquals(List.of("keep"), ids(plan));
            assertTrue(plan.notes().isEmpty());
        }
    }

    @Test
    void aPipelineThatStartsWithAConverterKeepsIt() {
        List<ModelArtifact> seen = new ArrayList<>();
        TransformCatalog catalog = TransformCatalog.of(optimizer("keep", seen),
                converter("keras-to-onnx", ModelFormat.KERAS, ModelFormat.ONNX, seen),
                converter("keras-to-onnx-experimental", ModelFormat.KERAS, ModelFormat.ONNX, seen));

        try (PipelinePlan plan = PipelinePlan.create(PipelineSpec.parse("keras-to-onnx-experimental,keep"),
                ModelFormat.KERAS, catalog)) {
            assertEquals(List.of("keras-to-onnx-experimental", "keep"), ids(plan));
        }
    }

    @Test
    void onlyAConverterToAFormatTheFirstStepReadsIsChosen() {
        List<ModelArtifact> seen = new ArrayList<>();
        TransformCatalog catalog = TransformCatalog.of(optimizer("keep", seen),
                converter("keras-to-tflite", ModelFormat.KERAS, ModelFormat.TFLITE, seen),
                optimizer("another-onnx-optimizer", seen));

        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> PipelinePlan.create(PipelineSpec.parse("keep"), ModelFormat.KERAS, catalog));

        assertEquals("no converter from keras to onnx installed (installed: another-onnx-optimizer, keep, "
                + "keras-to-tflite)", e.getMessage());
    }

    @Test
    void laterStepsAreNotConvertedImplicitly() {
        List<ModelArtifact> seen = new ArrayList<>();
        TransformCatalog catalog = TransformCatalog.of(optimizer("keep", seen),
                converter("keras-to-tflite", ModelFormat.KERAS, ModelFormat.TFLITE, seen),
                converter("tflite-to-onnx", ModelFormat.TFLITE, ModelFormat.ONNX, seen));

        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> PipelinePlan.create(PipelineSpec.parse("keras-to-tflite,keep"), ModelFormat.KERAS, catalog));

        assertEquals("step 2 'keep' reads [onnx] models, but receives tflite", e.getMessage());
    }

    @Test
    void formatsAreInferredFromContentThenExtension() throws Exception {
        Path zip = Files.write(dir.resolve("model.bin"), new byte[] {'P', 'K', 3, 4, 20, 0, 0, 0});
        Path hdf5 = Files.write(dir.resolve("weights"), new byte[] {(byte) 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'});
        Path tflite = Files.write(dir.resolve("m"), new byte[] {0x1c, 0, 0, 0, 'T', 'F', 'L', '3'});
        Path named = Files.writeString(dir.resolve("model.tflite"), "short");

        assertEquals(ModelFormat.KERAS, FormatDetector.detect(zip));
        assertEquals(ModelFormat.KERAS, FormatDetector.detect(hdf5));
        assertEquals(ModelFormat.TFLITE, FormatDetector.detect(tflite));
        assertEquals(ModelFormat.TFLITE, FormatDetector.detect(named));
        assertEquals(ModelFormat.ONNX, FormatDetector.detect(TestModels.sampleCnnFile()));
    }
}
