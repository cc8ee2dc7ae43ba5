package io.modelrefinery.host.job;

import io.modelrefinery.api.event.GateResult;
import io.modelrefinery.api.event.ModelRef;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.host.eval.QualityGates;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.JobListener;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.pipeline.TransformCatalog;
import io.modelrefinery.testdata.FashionMnist;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.host.testing.TestTransforms;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The default fidelity floor: with evaluation samples and no gate on fidelity or accuracy, a result whose
 * outputs are under {@link QualityGates#DEFAULT_MIN_SQNR_DB} against the original's is refused in one line
 * with the figures; a gate of the job's own replaces the floor.
 */
class FidelityFloorTest {
    @TempDir
    static Path dir;
    private static Path evaluation;

    private static final ParamSpec<Double> NOISE = ParamSpec.decimal("noise").defaultValue(0.0)
            .doc("Standard deviation of the noise added to every weight, relative to the weight.").build();

    /** Multiplies every weight of the sample model by {@code 1 + noise * N(0, 1)}, seeded. */
    private static final ModelTransform NOISY = TestTransforms.onnx(TestTransforms.compressor("noisy").param(NOISE).build(),
            (c, m, p) -> {
                double noise = p.get(NOISE);
                Random random = new Random(7);
                return TestModels.mapWeights(m, name -> true, w -> w * (1 + noise * random.nextGaussian()));
            });

    @BeforeAll
    static void data() {
        FashionMnist.assumeAvailable();
        evaluation = FashionMnist.binary(FashionMnist.Split.TEST, 300).writeNpz(dir.resolve("eval.npz"));
    }

    /** Runs {@code pipeline} on the sample model with the evaluation samples; latency is not what is tested. */
    private static JobResult run(String pipeline, String... gates) throws Exception {
        List<String> all = new java.util.ArrayList<>(List.of(gates));
        all.add("max-latency-ratio=100");
        Path model = TestModels.sampleCnnFile();
        JobRequest request = new JobRequest("job-floor", new ModelRef("seed", "1"), model.toUri().toString(), model, null,
                PipelineSpec.parse(pipeline), null, evaluation, null, QualityGates.parseAssignments(all, "--gate"));
        JobRunner runner = new JobRunner(TransformCatalog.of(NOISY), new OrtRuntime().service(Device.CPU, dir.resolve("ort")),
                dir.resolve("scratch"));
        return runner.run(request, JobListener.none(), Cancellation.never());
    }

    @Test
    void aResultThatNoLongerComputesWhatTheOriginalDidIsRefusedInOneLineWithTheFigures() {
        GateFailedException e = assertThrows(GateFailedException.class, () -> run("noisy(noise=2)"));

        String message = e.getMessage();
        assertFalse(message.contains("\n"), message);
        assertTrue(message.matches("gate min-sqnr-db: SQNR -?\\d+\\.\\d dB against the original's outputs, \\d+\\.\\d dB "
                + "under the default minimum of 10\\.0: the result no longer computes what the original does; accept it "
                + "with gate\\(min-sqnr-db=\\.\\.\\.\\)"), message);
        GateResult floor = e.result().evaluation().gates().get(0);
        assertEquals("min-sqnr-db", floor.gate());
        assertEquals(QualityGates.DEFAULT_MIN_SQNR_DB, floor.limit());
        assertFalse(floor.passed());
        assertEquals(e.result().evaluation().sqnrDb(), floor.value());
    }

    @Test
    void aCloseResultPassesTheFloorAndTheReportSaysSo() throws Exception {
        JobResult result = run("noisy(noise=0.001)");

        GateResult floor = result.evaluation().gates().stream().filter(g -> g.gate().equals("min-sqnr-db")).findFirst()
                .orElseThrow();
        assertTrue(floor.passed(), floor.detail());
        assertTrue(floor.value() > 30, floor.detail());
        assertEquals(QualityGates.DEFAULT_MIN_SQNR_DB, floor.limit());
    }

    @Test
    void aGateOfTheJobsOwnOnFidelityOrAccuracyReplacesTheFloor() throws Exception {
        JobResult lowered = run("noisy(noise=2),gate(min-sqnr-db=-100)");
        assertEquals(List.of("min-sqnr-db", "max-latency-ratio"),
                lowered.evaluation().gates().stream().map(GateResult::gate).toList());
        assertEquals(-100, lowered.evaluation().gates().get(0).limit());
        assertTrue(lowered.passed());

        JobResult agreement = run("noisy(noise=2)", "min-top1-agreement=0");
        assertTrue(agreement.passed());
        assertTrue(agreement.evaluation().gates().stream().noneMatch(g -> g.gate().equals("min-sqnr-db")));
    }

    /** NOISY, offering {@code auto} one recipe: noise of 2, which ruins the model. */
    private static final ModelTransform RUINOUS_RECIPE = TestTransforms.of(TestTransforms.compressor("noisy").param(NOISE)
            .recipe("noisy(noise=2)").build(), NOISY::apply);

    @Test
    void autoCandidatesMeetTheFloorWhenTheJobGatesOnlyLatency() {
        // auto's own default gates (min-sqnr-db=20 or max-accuracy-drop=0.01) apply only when the job sets none
        Path model = TestModels.sampleCnnFile();
        JobRequest request = new JobRequest("job-floor-auto", new ModelRef("seed", "1"), model.toUri().toString(), model,
                null, PipelineSpec.parse("auto(memory=false)"), null, evaluation, null,
                QualityGates.parseAssignments(List.of("max-latency-ratio=100"), "--gate"));
        JobRunner runner = new JobRunner(TransformCatalog.of(RUINOUS_RECIPE),
                new OrtRuntime().service(Device.CPU, dir.resolve("ort")), dir.resolve("scratch"));

        GateFailedException e = assertThrows(GateFailedException.class,
                () -> runner.run(request, JobListener.none(), Cancellation.never()));

        assertTrue(e.getMessage().startsWith("auto: no candidate passed the gates; the closest, noisy(noise=2), "),
                e.getMessage());
        assertTrue(e.getMessage().contains("under the default minimum of 10.0"), e.getMessage());
        assertEquals(1, e.result().candidates().size());
        GateResult floor = e.result().candidates().get(0).evaluation().gates().get(0);
        assertEquals("min-sqnr-db", floor.gate());
        assertEquals(QualityGates.DEFAULT_MIN_SQNR_DB, floor.limit());
        assertFalse(floor.passed());
    }

    @Test
    void withoutEvaluationSamplesThereIsNothingToCheck() throws Exception {
        Path model = TestModels.sampleCnnFile();
        JobRequest request = new JobRequest("job-floor", new ModelRef("seed", "1"), model.toUri().toString(), model, null,
                PipelineSpec.parse("noisy(noise=2),gate(max-latency-ratio=100)"), null, null, null, null);
        JobResult result = new JobRunner(TransformCatalog.of(NOISY), new OrtRuntime().service(Device.CPU, dir.resolve("ort")),
                dir.resolve("scratch")).run(request, JobListener.none(), Cancellation.never());

        assertTrue(result.passed());
        assertTrue(result.evaluation().gates().stream().noneMatch(g -> g.gate().equals("min-sqnr-db")));
    }
}
