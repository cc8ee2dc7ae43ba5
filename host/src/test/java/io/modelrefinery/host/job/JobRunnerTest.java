package io.modelrefinery.host.job;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.event.GateResult;
import io.modelrefinery.api.event.LatencyEstimate;
import io.modelrefinery.api.event.ModelRef;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.host.eval.Evaluator;
import io.modelrefinery.host.eval.QualityGates;
import io.modelrefinery.host.ort.IsolatedProbe;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.JobListener;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.pipeline.StepFailedException;
import io.modelrefinery.host.pipeline.StepLimits;
import io.modelrefinery.host.pipeline.TransformCatalog;
import io.modelrefinery.testdata.FashionMnist;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.host.testing.TestTransforms;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

import static io.modelrefinery.api.onnx.OnnxHelper.node;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The job around the pipeline: evaluation after it, and gates deciding whether the result may be published. */
class JobRunnerTest {
    @TempDir
    static Path dir;
    private static Path evaluation;
    private final List<String> ran = new ArrayList<>();

    static final ParamSpec<Double> SHIFT = ParamSpec.decimal("shift").defaultValue(0.0)
            .doc("Added to the dense layer's bias: moves the decision threshold, costing accuracy.").build();

    @BeforeAll
    static void data() {
        if (FashionMnist.available()) {
            evaluation = FashionMnist.binary(FashionMnist.Split.TEST, 600).writeNpz(dir.resolve("eval.npz"));
        }
    }

    private ModelTransform transform(String id, UnaryOperator<OnnxModel> change) {
        return TestTransforms.onnx(TestTransforms.compressor(id).param(SHIFT).build(), (c, m, p) -> {
            ran.add(id);
            double shift = p.get(SHIFT);
            OnnxModel changed = change.apply(m);
            return shift == 0 ? changed : TestModels.mapWeights(changed, "fc.bias"::equals, b -> b + shift);
        });
    }

    private JobResult run(String pipeline, QualityGates gates, Path eval) throws Exception {
        return run(pipeline, gates, eval, 0);
    }

    private JobResult run(String pipeline, QualityGates gates, Path eval, long memoryBudget) throws Exception {
        return run(TestModels.sampleCnn(), pipeline, gates, eval, memoryBudget, null);
    }

    private JobResult run(OnnxModel input, String pipeline, QualityGates gates, Path eval, long memoryBudget,
                          IsolatedProbe probe) throws Exception {
        Path model = dir.resolve("seed_cnn_binary.onnx");
        input.save(model);
        JobRequest request = new JobRequest("job-test", new ModelRef("seed", "1"), model.toUri().toString(), model, null,
                PipelineSpec.parse(pipeline), null, eval, null, gates);
        TransformCatalog catalog = TransformCatalog.of(transform("keep", m -> m), transform("slow", TestModels::slowedDown),
                transform("one-batch", JobRunnerTest::batchOfOneOnly));
        JobRunner runner = new JobRunner(catalog, new OrtRuntime().service(Device.CPU, dir.resolve("ort")),
                dir.resolve("scratch"), new JobRunner.Settings(1, new Evaluator.Settings(64, 0, 30, 3), StepLimits.none(), memoryBudget, probe));
        return runner.run(request, JobListener.none(), Cancellation.never());
    }

    private static QualityGates gates(String... settings) {
        return QualityGates.parseAssignments(List.of(settings), "--gate");
    }

    @Test
    void aResultWithinItsGatesIsReportedWithItsEvaluation() throws Exception {
        FashionMnist.assumeAvailable();

        JobResult result = run("keep", gates("max-accuracy-drop=0.005", "min-sqnr-db=60"), evaluation);

        Evaluation e = result.evaluation();
        assertTrue(result.passed());
        assertEquals(600, e.samples());
        assertEquals(e.accuracyBefore(), e.accuracyAfter());
        assertEquals(List.of("max-accuracy-drop", "min-sqnr-db", "max-latency-ratio"),
                e.gates().stream().map(GateResult::gate).toList(), "the default latency gate comes last");
        assertEquals(List.of(true, true, true), e.gates().stream().map(GateResult::passed).toList());
        assertEquals(e, result.report(null, List.of()).evaluation());
    }

    @Test
    void aResultThatLosesAccuracyIsRejectedSayingByHowMuch() throws Exception {
        FashionMnist.assumeAvailable();

        GateFailedException rejected = assertThrows(GateFailedException.class,
                () -> run("keep(shift=3)", gates("max-accuracy-drop=0.005"), evaluation));

        assertTrue(rejected.getMessage().startsWith("gate max-accuracy-drop: accuracy dropped "), rejected.getMessage());
        assertTrue(rejected.getMessage().contains(" over the limit of 0.50"), rejected.getMessage());
        Evaluation e = rejected.result().evaluation();
        assertFalse(e.passed());
        assertTrue(e.accuracyDrop() > 0.005, "drop " + e.accuracyDrop());
    }

    @Test
    void aSlowerModelIsRejectedUnderALatencyGate() throws Exception {
        GateFailedException rejected = assertThrows(GateFailedException.class,
                () -> run("slow", gates("max-latency-ratio=1.5"), null));

        assertTrue(rejected.getMessage().startsWith("gate max-latency-ratio: median latency "), rejected.getMessage());
        Evaluation e = rejected.result().evaluation();
        assertTrue(e.latencyRatio() > 1.5, "ratio " + e.latencyRatio());
        assertEquals(0, e.samples(), "timed on generated inputs");

        JobResult allowed = run("slow,gate(max-latency-ratio=1000)", QualityGates.none(), null);
        assertTrue(allowed.passed(), "an explicit max-latency-ratio allows the slowdown");
        assertTrue(allowed.evaluation().latencyRatio() > 1.5, allowed.evaluation().toString());
    }

    @Test
    void byDefaultAResultSlowerThanTheOriginalByMoreThanTheNoiseIsRejected() throws Exception {
        GateFailedException rejected = assertThrows(GateFailedException.class,
                () -> run("slow", QualityGates.none(), null));

        String message = rejected.getMessage();
        assertTrue(message.matches("gate max-latency-ratio: latency \\d+\\.\\d\\dx the original's \\(median of \\d+ "
                + "paired runs at batch 1, noise ±\\d\\.\\d\\d\\): slower by more than the noise; allow it with "
                + "gate\\(max-latency-ratio=\\.\\.\\.\\)"), message);
        LatencyEstimate latency = rejected.result().evaluation().latency();
        assertTrue(latency.ratio() - latency.noise() > 1.5, latency.toString());
        assertTrue(latency.pairs() >= 30, "at least the configured pairs: " + latency);
        assertEquals(1, latency.batch());
        GateResult gate = rejected.result().evaluation().gates().get(0);
        assertEquals(1 + latency.noise(), gate.limit(), 1e-12, "the bound is 1 plus the noise");

        JobResult same = run("keep(shift=0.0001)", QualityGates.none(), null);
        assertTrue(same.passed(), same.evaluation().toString());
        assertEquals("max-latency-ratio", same.evaluation().gates().get(0).gate());
        assertTrue(same.evaluation().latency().ratio() < 1.5, same.evaluation().toString());
    }

    @Test
    void aPipelineThatLeavesTheGraphUnchangedIsNotTimedAndTheReportSaysSo() throws Exception {
        JobResult result = run("keep", QualityGates.none(), null);

        assertTrue(result.passed());
        assertNull(result.evaluation());
        assertTrue(result.report(null, List.of()).notes().contains(
                "latency not compared with the original's: the pipeline left the graph unchanged"),
                result.report(null, List.of()).notes().toString());
    }

    @Test
    void aGateStepInThePipelineOverridesTheConfiguredGate() throws Exception {
        FashionMnist.assumeAvailable();

        JobResult result = run("keep(shift=3),gate(max-accuracy-drop=0.5)", gates("max-accuracy-drop=0.001"),
                evaluation);

        assertEquals(0.5, result.evaluation().gates().get(0).limit());
        assertTrue(result.passed());
        assertEquals("keep(shift=3),gate(max-accuracy-drop=0.5)", result.report(null, List.of()).pipeline());
    }

    @Test
    void aModelTooLargeForTheJobsMemoryIsRefusedBeforeAnyWork() throws Exception {
        JobTooLargeException refused = assertThrows(JobTooLargeException.class,
                () -> run("keep", QualityGates.none(), null, 40_000));

        assertEquals("seed_cnn_binary.onnx needs an estimated 58 KiB of memory (4 x its 14 KiB), more than the 39 KiB "
                + "one job may use here: give the JVM more heap (-Xmx) or run fewer jobs at once", refused.getMessage());
        assertEquals(List.of(), ran);
        assertTrue(run("keep", QualityGates.none(), null, 100_000).passed(), "within the budget it runs");
    }

    /** The sample CNN with its input reshaped to [1, 28, 28] first: it runs at batch 1 and at no other. */
    private static OnnxModel batchOfOneOnly(OnnxModel model) {
        GraphProto.Builder graph = model.graph().toBuilder();
        for (NodeProto.Builder n : graph.getNodeBuilderList()) {
            for (int i = 0; i < n.getInputCount(); i++) {
                if (n.getInput(i).equals("input")) {
                    n.setInput(i, "input_of_one");
                }
            }
        }
        graph.addInitializer(Tensor.ofLongs(new long[] {3}, 1, 28, 28).toProto("shape_of_one"));
        graph.addNode(0, node("Reshape", List.of("input", "shape_of_one"), List.of("input_of_one")));
        return model.withGraph(graph.build());
    }

    @Test
    void anOutputThatFailsOnlyAtTheEvaluationBatchFailsItsStepBeforeTheEvaluationRunsIt() throws Exception {
        FashionMnist.assumeAvailable();

        StepFailedException failed = assertThrows(StepFailedException.class,
                () -> run("one-batch", QualityGates.none(), evaluation));

        assertTrue(failed.getMessage().startsWith("step 1 'one-batch' failed: it produced a model ONNX Runtime loads but "
                + "cannot run at batch 64 with default session options: "), failed.getMessage());
        assertTrue(failed.getMessage().contains("Reshape"), failed.getMessage());
        assertEquals(1, failed.getMessage().lines().count());
    }

    @Test
    void withIsolationAModelOnnxRuntimeRefusesIsRefusedByTheChildBeforeAnyWork() throws Exception {
        IsolatedProbe probe = new IsolatedProbe(IsolatedProbe.Limits.defaults());
        assertTrue(run(TestModels.sampleCnn(), "keep", QualityGates.none(), null, 0, probe).passed());
        ran.clear();

        OnnxModel model = TestModels.sampleCnn();
        NodeProto first = model.graph().getNode(0);
        OnnxModel unknownOp = model.withGraph(GraphEditor.of(model.graph())
                .replaceNode(first, first.toBuilder().setOpType("NoSuchOp").build()).build());
        InvalidInputException refused = assertThrows(InvalidInputException.class,
                () -> run(unknownOp, "keep", QualityGates.none(), null, 0, probe));

        assertTrue(refused.getMessage().startsWith("ONNX Runtime could not safely open seed_cnn_binary.onnx in an "
                + "isolated probe: "), refused.getMessage());
        assertTrue(refused.getMessage().contains("NoSuchOp"), refused.getMessage());
        assertEquals(List.of(), ran);
    }

    @Test
    void gatesTheJobCannotCheckAreRefusedBeforeAnyStepRuns() {
        InvalidInputException refused = assertThrows(InvalidInputException.class,
                () -> run("keep", gates("min-sqnr-db=30"), null));

        assertEquals("gate min-sqnr-db needs evaluation samples: give --eval FILE or the event's evalUri",
                refused.getMessage());
        assertEquals(List.of(), ran);
    }
}
