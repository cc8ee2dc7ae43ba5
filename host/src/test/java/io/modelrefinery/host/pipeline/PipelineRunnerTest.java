package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.InvalidParamException;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.ParamValidator;
import io.modelrefinery.api.plugin.TransformContext;
import io.modelrefinery.api.plugin.TransformException;
import io.modelrefinery.api.plugin.TransformKind;
import io.modelrefinery.api.plugin.TransformResult;
import io.modelrefinery.host.eval.Evaluator;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.host.testing.TestTransforms;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PipelineRunnerTest {
    @TempDir
    Path dir;

    static final ParamSpec<Double> FACTOR = ParamSpec.decimal("factor").defaultValue(1.0)
            .validator(ParamValidator.greaterThan(0)).doc("A positive factor.").build();

    /** A transform whose behaviour each test chooses. */
    private static ModelTransform transform(String id, BiFunction<TransformContext, OnnxModel, TransformResult> body) {
        return TestTransforms.of(TestTransforms.descriptor(id, TransformKind.OPTIMIZER).param(FACTOR).build(),
                (c, input, p) -> body.apply(c, input.onnxModel()));
    }

    private static final ModelTransform KEEP = transform("keep", (c, m) -> TransformResult.of(m).withMetric("nodes", 3));

    @Test
    void runsStepsInOrderAndRecordsEach() {
        List<String> seen = new ArrayList<>();
        ModelTransform stamp = transform("stamp", (c, m) -> {
            seen.add("stamp");
            assertTrue(Files.isDirectory(c.scratchDirectory()));
            return TransformResult.of(m).withNote("stamped");
        });

        PipelineResult result = LocalRun.of(KEEP, stamp).run("keep(factor=2),stamp", TestModels.mlp(), dir);

        assertEquals(List.of("keep", "stamp"), result.steps().stream().map(StepRecord::transform).toList());
        assertEquals(2.0, result.steps().get(0).params().get("factor"));
        assertEquals(3.0, result.steps().get(0).metrics().get("nodes"));
        assertEquals(List.of("stamped"), result.steps().get(1).notes());
        assertEquals("cpu", result.steps().get(1).device());
        assertEquals(List.of("stamp"), seen);
    }

    @Test
    void refusesAJobLackingRequiredDataBeforeAnyStepRuns() throws Exception {
        List<String> ran = new ArrayList<>();
        ModelTransform first = transform("first", (c, m) -> {
            ran.add("first");
            return TransformResult.of(m);
        });
        ModelTransform tune = TestTransforms.of(TestTransforms.compressor("tune").requires(DataRole.TRAINING).build(),
                (c, input, p) -> {
                    ran.add("tune");
                    return TransformResult.of(input);
                });

        InvalidInputException refused = assertThrows(InvalidInputException.class,
                () -> LocalRun.of(first, tune).run("first,tune", TestModels.mlp(), dir));
        assertEquals("step 2 'tune' needs training samples: give --train FILE or the event's trainUri", refused.getMessage());
        assertEquals(List.of(), ran);

        Path samples = dir.resolve("train.npz");
        Datasets.writeNpz(samples, Map.of("input", TestModels.randomImages(1, 4, 3)));
        LocalRun.of(first, tune).data(new JobData(null, null, Datasets.open(samples, "input")))
                .run("first,tune", TestModels.mlp(), dir);
        assertEquals(List.of("first", "tune"), ran);
    }

    @Test
    void aStepPastItsTimeLimitFailsAndFreesTheJobEvenWhenItIgnoresCancellation() throws Exception {
        AtomicBoolean release = new AtomicBoolean();
        AtomicBoolean stillSpinning = new AtomicBoolean();
        ModelTransform spin = transform("spin", (c, m) -> {
            stillSpinning.set(true);
            while (!release.get()) {
                Thread.onSpinWait(); // ignores cancellation and interrupts: the worst case
            }
            stillSpinning.set(false);
            return TransformResult.of(m);
        });
        JobEnvironment limited = new JobEnvironment("job-limits", new OrtRuntime().service(Device.CPU, dir.resolve("ort")),
                JobData.none(), dir.resolve("scratch"), Cancellation.never(),
                new StepLimits(Duration.ofMillis(300), Duration.ofMillis(200)));

        long start = System.nanoTime();
        try (PipelinePlan plan = PipelinePlan.create(PipelineSpec.parse("spin"), ModelFormat.ONNX, TransformCatalog.of(spin))) {
            StepFailedException failed = assertThrows(StepFailedException.class, () -> new PipelineRunner().run(plan,
                    ModelArtifact.onnx(TestModels.mlp()), limited, JobListener.none()));
            assertEquals("step 1 'spin' failed: it ran longer than its time limit of 300 ms", failed.getMessage());
            assertFalse(failed.retriable());
            assertTrue(stillSpinning.get(), "the step ignored its cancellation and was left behind on its own thread");
        } finally {
            release.set(true);
        }
        assertTrue((System.nanoTime() - start) / 1e9 < 5, "the job ended after the limit and the grace period");

        ModelTransform polite = transform("polite", (c, m) -> {
            while (true) {
                c.cancellation().throwIfCancelled();
                Thread.onSpinWait();
            }
        });
        try (PipelinePlan plan = PipelinePlan.create(PipelineSpec.parse("polite"), ModelFormat.ONNX,
                TransformCatalog.of(polite))) {
            assertEquals("step 1 'polite' failed: it ran longer than its time limit of 300 ms",
                    assertThrows(StepFailedException.class, () -> new PipelineRunner().run(plan,
                            ModelArtifact.onnx(TestModels.mlp()), limited, JobListener.none())).getMessage());
        }
        PipelineResult quick = LocalRun.of(KEEP).run("keep", TestModels.mlp(), dir);
        assertEquals(1, quick.steps().size(), "the runner serves the next job");
    }

    @Test
    void plansRefuseUnknownTransformsBadParamsAndFormatMismatches() {
        TransformCatalog catalog = TransformCatalog.of(KEEP);

        assertEquals("unknown transform 'prune' (installed: keep)", assertThrows(UnknownTransformException.class,
                () -> PipelinePlan.create(PipelineSpec.parse("keep,prune"), ModelFormat.ONNX, catalog)).getMessage());
        assertEquals("invalid value -1.0 for parameter 'factor' of 'keep': must be in (0, inf)",
                assertThrows(InvalidParamException.class, () -> PipelinePlan.create(PipelineSpec.parse("keep(factor=-1)"),
                        ModelFormat.ONNX, catalog)).getMessage());
        assertEquals("no converter from keras to onnx installed (installed: keep)",
                assertThrows(InvalidInputException.class,
                        () -> PipelinePlan.create(PipelineSpec.parse("keep"), ModelFormat.KERAS, catalog)).getMessage());
    }

    @Test
    void aThrowingStepFailsTheJobWithItsPlaceAndRetriability() {
        ModelTransform busy = transform("busy", (c, m) -> {
            throw TransformException.retriable("GPU busy");
        });
        ModelTransform crash = transform("crash", (c, m) -> {
            throw new NullPointerException();
        });

        StepFailedException retriable = assertThrows(StepFailedException.class,
                () -> LocalRun.of(KEEP, busy).run("keep,busy", TestModels.mlp(), dir));
        StepFailedException fatal = assertThrows(StepFailedException.class,
                () -> LocalRun.of(crash).run("crash", TestModels.mlp(), dir));

        assertEquals("step 2 'busy' failed: GPU busy", retriable.getMessage());
        assertTrue(retriable.retriable());
        assertEquals("step 1 'crash' failed: NullPointerException", fatal.getMessage());
        assertFalse(fatal.retriable());
    }

    @Test
    void badInputFromAStepStaysBadInputAndNamesTheStep() {
        ModelTransform picky = transform("picky", (c, m) -> {
            throw new InvalidInputException("calibration data has no array 'x'");
        });

        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> LocalRun.of(picky).run("picky", TestModels.mlp(), dir));

        assertEquals("step 1 'picky': calibration data has no array 'x'", e.getMessage());
    }

    @Test
    void aStepThatBreaksTheModelIsCaughtBeforeTheNextStep() {
        ModelTransform dangling = transform("dangling", (c, m) -> TransformResult.of(m.withGraph(m.graph().toBuilder()
                .setNode(2, OnnxHelper.node("Relu", List.of("nowhere"), List.of("y"))).build())));
        ModelTransform unloadable = transform("unloadable", (c, m) -> TransformResult.of(m.withGraph(m.graph().toBuilder()
                .setNode(2, OnnxHelper.node("NotAnOp", List.of("pre"), List.of("y"))).build())));

        StepFailedException invalid = assertThrows(StepFailedException.class,
                () -> LocalRun.of(dangling, KEEP).run("dangling,keep", TestModels.mlp(), dir));
        StepFailedException refused = assertThrows(StepFailedException.class,
                () -> LocalRun.of(unloadable).run("unloadable", TestModels.mlp(), dir));

        assertTrue(invalid.getMessage().startsWith("step 1 'dangling' failed: it produced an invalid model: Relu node"),
                invalid.getMessage());
        assertTrue(refused.getMessage().startsWith("step 1 'unloadable' failed: it produced a model ONNX Runtime cannot "
                + "load"), refused.getMessage());
    }

    /** x (float [N, 3]) through {@code nodes} to y, with {@code initializers}; opset 16. */
    private static OnnxModel model(List<NodeProto> nodes, List<TensorProto> initializers, ValueInfoProto... extraInputs) {
        List<ValueInfoProto> inputs = new ArrayList<>(List.of(symbolicBatch("x", DataType.FLOAT)));
        inputs.addAll(List.of(extraInputs));
        return OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("g", nodes, inputs,
                List.of(ValueInfoProto.newBuilder().setName("y").build()), initializers), 16));
    }

    private static ValueInfoProto symbolicBatch(String name, DataType type) {
        ValueInfoProto.Builder v = OnnxHelper.valueInfo(name, type, 1, 3).toBuilder();
        v.getTypeBuilder().getTensorTypeBuilder().getShapeBuilder().getDimBuilder(0).clearDimValue().setDimParam("N");
        return v.build();
    }

    @Test
    void aStepWhoseModelLoadsButCannotRunFailsWithOnnxRuntimesReason() {
        // [N, 3] into [2, 2] loads (N is unknown until run time) and fails on any batch
        ModelTransform reshape = transform("reshape", (c, m) -> TransformResult.of(model(List.of(
                OnnxHelper.node("Reshape", List.of("x", "shape"), List.of("y"))),
                List.of(Tensor.ofLongs(new long[] {2}, 2, 2).toProto("shape")))));
        OnnxModel identity = model(List.of(OnnxHelper.node("Identity", List.of("x"), List.of("y"))), List.of());

        StepFailedException failed = assertThrows(StepFailedException.class,
                () -> LocalRun.of(reshape).run("reshape", identity, dir));

        assertTrue(failed.getMessage().startsWith("step 1 'reshape' failed: it produced a model ONNX Runtime loads but "
                + "cannot run: "), failed.getMessage());
        assertTrue(failed.getMessage().contains("Reshape"), failed.getMessage());
        assertEquals(1, failed.getMessage().lines().count());
    }

    @Test
    void anOutputThatFailsAtTheEvaluationBatchFailsItsStepInTheChildBeforeTheEvaluationRunsIt() {
        // [N, 3] into [1, 3]: runs at a deployer's batch of 1, fails at the evaluation's 64
        ModelTransform reshape = transform("reshape", (c, m) -> TransformResult.of(model(List.of(
                OnnxHelper.node("Reshape", List.of("x", "shape"), List.of("y"))),
                List.of(Tensor.ofLongs(new long[] {2}, 1, 3).toProto("shape")))));
        OnnxModel identity = model(List.of(OnnxHelper.node("Identity", List.of("x"), List.of("y"))), List.of());
        assertEquals(1, LocalRun.of(reshape).run("reshape", identity, dir).steps().size(),
                "with nothing to evaluate it, a deployer's run passes it");
        JobEnvironment evaluated = new JobEnvironment("job-test", new OrtRuntime().service(Device.CPU, dir.resolve("ort")),
                JobData.none(), dir.resolve("jobs"), Cancellation.never(), StepLimits.none(),
                new JobStatistics(JobData.none()), new Evaluator.Settings(64, 0, 20, 3).probeRuns(true));

        StepFailedException failed;
        try (PipelinePlan plan = PipelinePlan.create(PipelineSpec.parse("reshape"), ModelArtifact.onnx(identity),
                TransformCatalog.of(reshape))) {
            failed = assertThrows(StepFailedException.class,
                    () -> new PipelineRunner().run(plan, ModelArtifact.onnx(identity), evaluated, JobListener.none()));
        }

        assertTrue(failed.getMessage().startsWith("step 1 'reshape' failed: it produced a model ONNX Runtime loads but "
                + "cannot run at batch 64 with default session options: "), failed.getMessage());
        assertTrue(failed.getMessage().contains("Reshape"), failed.getMessage());
        assertEquals(1, failed.getMessage().lines().count());
    }

    @Test
    void aHalfPrecisionOutputRunsInAChildProcessAndAKernelMissingAtRunTimeFailsTheStep() {
        // ONNX Runtime's CPU provider loads a float16 ScatterElements with a reduction and refuses it only when it runs
        OnnxModel half = model(List.of(
                OnnxHelper.node("Cast", List.of("x"), List.of("h"), OnnxHelper.attr("to", (long) DataType.FLOAT16.code())),
                OnnxHelper.node("ScatterElements", List.of("h", "i", "u"), List.of("s"), OnnxHelper.attr("axis", 1L),
                        OnnxHelper.attr("reduction", "add")),
                OnnxHelper.node("Cast", List.of("s"), List.of("y"), OnnxHelper.attr("to", (long) DataType.FLOAT.code()))),
                List.of(Tensor.ofLongs(new long[] {1, 1}, 2).toProto("i"),
                        Tensor.fromDoubles(DataType.FLOAT16, new long[] {1, 1}, new double[] {5}).toProto("u")));
        ModelTransform scatter = transform("scatter", (c, m) -> TransformResult.of(half));
        OnnxModel identity = model(List.of(OnnxHelper.node("Identity", List.of("x"), List.of("y"))), List.of());

        assertTrue(OutputRunCheck.halfIn(half.graph()), "a large one would run in a child of its own too");
        assertFalse(OutputRunCheck.halfIn(identity.graph()));
        StepFailedException failed = assertThrows(StepFailedException.class,
                () -> LocalRun.of(scatter).run("scatter", identity, dir));

        assertTrue(failed.getMessage().startsWith("step 1 'scatter' failed: it produced a model ONNX Runtime loads but "
                + "cannot run: "), failed.getMessage());
        assertTrue(failed.getMessage().contains("ScatterElements"), failed.getMessage());
    }

    @Test
    void anOutputThatCrashesOnnxRuntimeFailsTheStepAndTheHostKeepsRunning() {
        OnnxModel attention = TestModels.crashesOnnxRuntime();
        ModelTransform half = transform("half", (c, m) -> TransformResult.of(attention));

        StepFailedException failed = assertThrows(StepFailedException.class,
                () -> LocalRun.of(half).run("half", TestModels.mlp(), dir));

        assertEquals("step 1 'half' failed: ONNX Runtime crashed (signal SIGSEGV in libonnxruntime.so) opening its "
                + "output with default session options, in a separate process", failed.getMessage());
        // and this process still runs ONNX Runtime
        assertEquals(1, LocalRun.of(KEEP).run("keep", TestModels.mlp(), dir).steps().size());
    }

    @Test
    void anOutputThatFailsOnGeneratedInputsAsItsInputDoesPasses() {
        // the shape comes from an int64 input: generated as zeros, [0] cannot hold 3 values, before and after
        OnnxModel needsRealShapes = model(List.of(OnnxHelper.node("Reshape", List.of("x", "shape"), List.of("y"))),
                List.of(), OnnxHelper.valueInfo("shape", DataType.INT64, 1));

        PipelineResult result = LocalRun.of(KEEP).run("keep", needsRealShapes, dir);

        assertEquals(1, result.steps().size());
    }

    @Test
    void scratchFoldersAreRemovedAfterEachStep() {
        List<Path> scratch = new ArrayList<>();
        ModelTransform litter = transform("litter", (c, m) -> {
            scratch.add(c.scratchDirectory());
            try {
                Files.writeString(c.scratchDirectory().resolve("tmp.bin"), "x");
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            return TransformResult.of(m);
        });

        LocalRun.of(litter).run("litter", TestModels.mlp(), dir);

        assertFalse(Files.exists(scratch.get(0)));
    }
}
