package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.proto.Onnx.OperatorSetIdProto;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.ParamRole;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.ParamValidator;
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

/**
 * How a plan puts an opset conversion in front of a step whose descriptor declares a minimum opset the model
 * is below: found by its descriptor (an ONNX-to-ONNX converter with a {@link ParamRole#TARGET_OPSET}
 * parameter, whatever its id), reported as a step of its own with a note, and only when needed.
 */
class PipelinePlanOpsetTest {
    @TempDir
    Path dir;

    private static final ParamSpec<Integer> TO = ParamSpec.integer("to").defaultValue(21)
            .validator(ParamValidator.between(13, 21)).role(ParamRole.TARGET_OPSET)
            .doc("The opset converted to.").build();

    /** A converter that only rewrites the opset import: enough for the MLP's MatMul, Add and Relu. */
    private static ModelTransform upgrader(String id) {
        return TestTransforms.onnx(TestTransforms.descriptor(id, TransformKind.CONVERTER).version("1.2.0").param(TO).build(),
                (c, m, p) -> atOpset(m, p.get(TO)));
    }

    /** A step that needs {@code minimum} and records the opset of each model it receives. */
    private static ModelTransform needing(String id, int minimum, List<Long> seen) {
        return TestTransforms.onnx(TestTransforms.compressor(id).minimumOpset(minimum).build(), recordingOpset(seen));
    }

    /** Records the opset of each model it receives, and returns the model. */
    private static TestTransforms.OnnxStep recordingOpset(List<Long> seen) {
        return (c, m, p) -> {
            seen.add(m.opsetVersion());
            return m;
        };
    }

    private static OnnxModel atOpset(OnnxModel model, long opset) {
        return model.withProto(model.proto().toBuilder().clearOpsetImport()
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset)).build());
    }

    private static List<String> ids(PipelinePlan plan) {
        return plan.steps().stream().map(s -> s.descriptor().id()).toList();
    }

    @Test
    void aModelBelowAStepsMinimumIsConvertedUpInFrontOfItAsAStepOfItsOwn() {
        List<Long> seen = new ArrayList<>();
        LocalRun run = LocalRun.of(needing("int8", 13, seen), upgrader("operator-sets"));

        PipelineResult result = run.run("int8", atOpset(TestModels.mlp(), 9), dir);

        assertEquals(List.of("operator-sets", "int8"), result.steps().stream().map(StepRecord::transform).toList());
        assertEquals(13, result.steps().get(0).params().get("to"), "converted to the step's minimum");
        assertEquals(List.of(13L), seen, "the step received the converted model");
        assertEquals(13, result.output().onnxModel().opsetVersion());
    }

    @Test
    void thePlanSaysWhatItConvertedAndWhy() {
        TransformCatalog catalog = TransformCatalog.of(needing("int8", 13, new ArrayList<>()), upgrader("operator-sets"));

        try (PipelinePlan plan = PipelinePlan.create(PipelineSpec.parse("int8"),
                ModelArtifact.onnx(atOpset(TestModels.mlp(), 11)), catalog)) {
            assertEquals(List.of("operator-sets", "int8"), ids(plan));
            assertEquals(List.of("converted the model from opset 11 to 13 with operator-sets 1.2.0 before step 1 'int8', "
                    + "which needs opset 13 or later"), plan.notes());
        }
    }

    @Test
    void noConversionWhenTheModelIsNewEnoughOrTheStepNeedsNone() {
        TransformCatalog catalog = TransformCatalog.of(needing("int8", 13, new ArrayList<>()),
                needing("any", 1, new ArrayList<>()), upgrader("operator-sets"));

        try (PipelinePlan plan = PipelinePlan.create(PipelineSpec.parse("int8"),
                ModelArtifact.onnx(atOpset(TestModels.mlp(), 13)), catalog)) {
            assertEquals(List.of("int8"), ids(plan));
            assertEquals(List.of(), plan.notes());
        }
        try (PipelinePlan plan = PipelinePlan.create(PipelineSpec.parse("any"),
                ModelArtifact.onnx(atOpset(TestModels.mlp(), 7)), catalog)) {
            assertEquals(List.of("any"), ids(plan));
        }
    }

    @Test
    void anOpsetStepInThePipelineCountsAndEachConversionHappensOnce() {
        TransformCatalog catalog = TransformCatalog.of(needing("int8", 13, new ArrayList<>()),
                needing("int4", 15, new ArrayList<>()), upgrader("operator-sets"));
        OnnxModel old = atOpset(TestModels.mlp(), 9);

        try (PipelinePlan plan = PipelinePlan.create(PipelineSpec.parse("operator-sets(to=17),int8"),
                ModelArtifact.onnx(old), catalog)) {
            assertEquals(List.of("operator-sets", "int8"), ids(plan), "the pipeline's own conversion suffices");
        }
        try (PipelinePlan plan = PipelinePlan.create(PipelineSpec.parse("int8,int4,int8"), ModelArtifact.onnx(old),
                catalog)) {
            assertEquals(List.of("operator-sets", "int8", "operator-sets", "int4", "int8"), ids(plan));
            assertEquals(2, plan.notes().size(), plan.notes().toString());
        }
    }

    /** A step that needs training samples from opset 16 on, like distill. */
    private static ModelTransform trainingAt16() {
        return TestTransforms.onnx(TestTransforms.compressor("tune").minimumOpset(16).requires(DataRole.TRAINING).build(),
                (context, model, params) -> model);
    }

    @Test
    void aMissingDatasetNamesTheStepAsWrittenNotAfterTheConversionsThePlanAdded() {
        LocalRun run = LocalRun.of(trainingAt16(), needing("int8", 13, new ArrayList<>()), upgrader("operator-sets"));

        InvalidInputException alone = assertThrows(InvalidInputException.class,
                () -> run.run("tune", atOpset(TestModels.mlp(), 13), dir));
        assertEquals("step 1 'tune' needs training samples: give --train FILE or the event's trainUri", alone.getMessage());
        // planned as operator-sets, int8, operator-sets, tune: the user wrote tune second
        InvalidInputException second = assertThrows(InvalidInputException.class,
                () -> run.run("int8,tune", atOpset(TestModels.mlp(), 11), dir));
        assertEquals("step 2 'tune' needs training samples: give --train FILE or the event's trainUri",
                second.getMessage());
    }

    private static final ParamSpec<Integer> EPOCHS = ParamSpec.integer("epochs").defaultValue(0)
            .validator(ParamValidator.between(0, 100)).doc("Training epochs; 0 trains nothing.").build();

    /** Like prune(finetune=...): any opset without training, 16 with it. */
    private static ModelTransform trainingWhenAsked(List<Long> seen) {
        return TestTransforms.onnx(TestTransforms.compressor("sparsify").param(EPOCHS)
                .minimumOpsetWhen(16, p -> p.get(EPOCHS) > 0, "epochs>0").build(), recordingOpset(seen));
    }

    @Test
    void aMinimumThatHoldsOnlyForSomeParametersIsMetOnlyWhenTheyAreGiven() {
        List<Long> seen = new ArrayList<>();
        TransformCatalog catalog = TransformCatalog.of(trainingWhenAsked(seen), upgrader("operator-sets"));
        OnnxModel old = atOpset(TestModels.mlp(), 13);

        try (PipelinePlan plan = PipelinePlan.create(PipelineSpec.parse("sparsify"), ModelArtifact.onnx(old), catalog)) {
            assertEquals(List.of("sparsify"), ids(plan), "no training, no conversion");
        }
        try (PipelinePlan plan = PipelinePlan.create(PipelineSpec.parse("sparsify(epochs=2)"), ModelArtifact.onnx(old),
                catalog)) {
            assertEquals(List.of("operator-sets", "sparsify"), ids(plan));
            assertEquals(List.of("converted the model from opset 13 to 16 with operator-sets 1.2.0 before step 1 "
                    + "'sparsify', which needs opset 16 or later with epochs>0"), plan.notes());
        }
        PipelineResult result = LocalRun.of(trainingWhenAsked(seen), upgrader("operator-sets"))
                .run("sparsify(epochs=1)", old, dir);
        assertEquals(List.of(16L), seen, "the step received the converted model");
        assertEquals(16, result.output().onnxModel().opsetVersion());
    }

    /** A converter from Keras that writes the MLP at {@code opset}: what it writes is unknown until it ran. */
    private static ModelTransform kerasWriting(long opset) {
        TransformDescriptor descriptor = TransformDescriptor.builder("from-keras").version("1.0.0")
                .kind(TransformKind.CONVERTER).accepts(ModelFormat.KERAS).produces(ModelFormat.ONNX).summary("test")
                .build();
        return TestTransforms.of(descriptor, (c, input, p) -> TransformResult.of(atOpset(TestModels.mlp(), opset)));
    }

    @Test
    void afterAConverterFromAnotherFormatAnOlderModelIsConvertedUpAtRunTimeWithANote() throws Exception {
        List<Long> seen = new ArrayList<>();
        ModelArtifact keras = ModelArtifact.file(Files.writeString(dir.resolve("model.keras"), "weights"),
                ModelFormat.KERAS);
        LocalRun run = LocalRun.of(kerasWriting(11), needing("int8", 13, seen), upgrader("operator-sets"));

        PipelineResult result = run.run("int8", keras, dir);

        assertEquals(List.of("from-keras", "int8"), result.steps().stream().map(StepRecord::transform).toList(),
                "the conversion is part of the step, not a step the plan could not know of");
        assertEquals(List.of(13L), seen, "the step received the converted model");
        assertEquals(List.of("converted the model from opset 11 to 13 with operator-sets 1.2.0 first: this step needs "
                + "opset 13 or later, and the model it received was older"), result.steps().get(1).notes());
        assertEquals(13, result.output().onnxModel().opsetVersion());
    }

    @Test
    void afterAConverterFromAnotherFormatANewEnoughModelIsLeftAsItIs() throws Exception {
        List<Long> seen = new ArrayList<>();
        ModelArtifact keras = ModelArtifact.file(Files.writeString(dir.resolve("model.keras"), "weights"),
                ModelFormat.KERAS);
        TransformCatalog catalog = TransformCatalog.of(kerasWriting(17), needing("int8", 13, seen),
                upgrader("operator-sets"));
        try (PipelinePlan plan = PipelinePlan.create(PipelineSpec.parse("int8"), keras, catalog)) {
            assertEquals(List.of("from-keras", "int8"), ids(plan));
            assertEquals(1, plan.notes().size(), "only the format conversion: " + plan.notes());
        }

        PipelineResult result = LocalRun.of(kerasWriting(17), needing("int8", 13, seen), upgrader("operator-sets"))
                .run("int8", keras, dir);

        assertEquals(List.of(17L), seen);
        assertEquals(List.of(), result.steps().get(1).notes());
    }

    @Test
    void withoutAnOpsetConverterTheStepMeetsTheModelAsItIs() {
        List<Long> seen = new ArrayList<>();
        // a converter without a TARGET_OPSET parameter is no opset converter, whatever it is called
        ModelTransform namedLikeOne = PipelinePlanTest.converterFor("opset", ModelFormat.ONNX, ModelFormat.ONNX);
        LocalRun run = LocalRun.of(needing("int8", 13, seen), namedLikeOne);

        PipelineResult result = run.run("int8", atOpset(TestModels.mlp(), 11), dir);

        assertEquals(List.of("int8"), result.steps().stream().map(StepRecord::transform).toList());
        assertEquals(List.of(11L), seen);
    }

    @Test
    void aConverterThatCannotReachTheMinimumIsNotUsed() {
        List<Long> seen = new ArrayList<>();
        LocalRun run = LocalRun.of(needing("int8", 22, seen), upgrader("operator-sets"));

        PipelineResult result = run.run("int8", atOpset(TestModels.mlp(), 13), dir);

        assertEquals(List.of("int8"), result.steps().stream().map(StepRecord::transform).toList());
    }
}
