package io.modelrefinery.host.auto;

import io.modelrefinery.api.data.Batch;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.DatasetReader;
import io.modelrefinery.api.event.Candidate;
import io.modelrefinery.api.event.ModelRef;
import io.modelrefinery.api.event.SearchSummary;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.ParamRole;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.TransformContext;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformKind;
import io.modelrefinery.host.eval.Evaluator;
import io.modelrefinery.host.eval.QualityGates;
import io.modelrefinery.host.job.JobRequest;
import io.modelrefinery.host.job.JobResult;
import io.modelrefinery.host.job.JobRunner;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.JobListener;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.pipeline.StepLimits;
import io.modelrefinery.host.pipeline.TransformCatalog;
import io.modelrefinery.testdata.FashionMnist;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.host.testing.TestTransforms;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import static io.modelrefinery.host.testing.TestTransforms.compressor;
import static io.modelrefinery.host.testing.TestTransforms.descriptor;
import static io.modelrefinery.host.testing.TestTransforms.onnx;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What makes {@code auto} fast, through {@link JobRunner} as the CLI and the service run it, on the sample
 * CNN with real ONNX Runtime sessions: statistics computed once for all candidates, candidates that cannot win
 * left untimed or unrun, and a new version of a model starting from the previous version's winner.
 */
class AutoSpeedTest {
    @TempDir
    static Path dir;
    private static Path calibration;
    private static Path evaluation;

    static final ParamSpec<String> METHOD = ParamSpec.string("method").defaultValue("max").doc("Statistic.").build();
    static final ParamSpec<List<String>> EXCLUDE = ParamSpec.list("exclude-nodes").defaultValue(List.of())
            .role(ParamRole.NODE_EXCLUSION).doc("Nodes left alone.").build();
    static final ParamSpec<Integer> BITS = ParamSpec.integer("bits").defaultValue(23).doc("Mantissa bits kept.").build();
    static final ParamSpec<Double> SHIFT = ParamSpec.decimal("shift").defaultValue(0.0).doc("Costs accuracy.").build();

    /** Calibration passes over the samples, by statistic: what sharing must keep at one per model and method. */
    private final Map<String, AtomicInteger> passes = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> applied = new ConcurrentHashMap<>();

    @BeforeAll
    static void data() {
        FashionMnist.assumeAvailable();
        calibration = FashionMnist.binary(FashionMnist.Split.TRAIN, 64).writeNpz(dir.resolve("calibration.npz"));
        evaluation = FashionMnist.binary(FashionMnist.Split.TEST, 200).writeNpz(dir.resolve("eval.npz"));
    }

    /** {@code step} as a transform that counts its applications in {@link #applied}. */
    private ModelTransform transform(TransformDescriptor descriptor, TestTransforms.OnnxStep step) {
        return onnx(descriptor, (c, m, p) -> {
            applied.computeIfAbsent(descriptor.id(), k -> new AtomicInteger()).incrementAndGet();
            return step.apply(c, m, p);
        });
    }

    /**
     * A stand-in static quantization: "calibrates" (runs the model over every calibration sample for the
     * largest output, through the host's statistics cache as quantize-static does), then flips the sign of the
     * dense layer unless it is excluded, so that it fails its gate and is retried with layers in float.
     */
    private ModelTransform calibrated() {
        return transform(compressor("calibrated").param(METHOD).param(EXCLUDE).requires(DataRole.CALIBRATION)
                .layerFallback().recipe("calibrated(method=max)").recipe("calibrated(method=abs)").build(), (c, m, p) -> {
            String key = "test-statistic:" + p.get(METHOD);
            double statistic = c.statistics().get(m, DataRole.CALIBRATION, key).map(b -> ByteBuffer.wrap(b).getDouble())
                    .orElseGet(() -> {
                        double computed = largestOutput(c, m, c.requireData(DataRole.CALIBRATION));
                        passes.computeIfAbsent(p.get(METHOD), k -> new AtomicInteger()).incrementAndGet();
                        c.statistics().put(m, DataRole.CALIBRATION, key, ByteBuffer.allocate(8).putDouble(computed).array());
                        return computed;
                    });
            assertTrue(statistic > 0, "a statistic of the samples");
            return TestModels.denseLayerRuinedUnless(p.get(EXCLUDE), m);
        });
    }

    private static double largestOutput(TransformContext context, OnnxModel model, Dataset samples) {
        double max = Double.NEGATIVE_INFINITY;
        try (InferenceSession session = context.inference().open(model); DatasetReader reader = samples.open()) {
            for (Optional<Batch> b = reader.next(16); b.isPresent(); b = reader.next(16)) {
                Tensor out = session.run(b.get().inputs()).values().iterator().next();
                for (float v : out.toFloatArray()) {
                    max = Math.max(max, Math.abs(v));
                }
            }
        }
        return max;
    }

    private ModelTransform round() {
        return transform(compressor("round").param(BITS).param(SHIFT).recipe("round(bits=4)").recipe("round(bits=10)")
                .recipe("round(bits=18)").recipe("round(shift=3)").build(), (c, m, p) -> TestModels.mapWeights(
                TestModels.mapWeights(m, n -> true, w -> TestModels.keepMantissaBits(w, p.get(BITS))),
                "fc.bias"::equals, b -> b + p.get(SHIFT)));
    }

    /** Much slower, as accurate: fails the default latency gate. */
    private ModelTransform slow() {
        return transform(compressor("slow").recipe("slow").build(), (c, m, p) -> TestModels.slowedDown(m));
    }

    /** Changes weight values only, and says so; its recipe ends with the slow transform. */
    private ModelTransform sparsify() {
        return sparsify("slow");
    }

    /** Changes only weight values; its recipe is itself followed by {@code rest}. */
    private ModelTransform sparsify(String rest) {
        return transform(compressor("sparsify").keepsGraph(p -> true).recipe("sparsify," + rest).build(),
                (c, m, p) -> TestModels.mapWeights(m, n -> true, w -> Math.abs(w) < 1e-3 ? 0 : w));
    }

    private JobResult auto(TransformCatalog catalog, String pipeline, String version, OnnxModel model,
                           RecipeMemory memory) throws Exception {
        Path file = dir.resolve("version-" + version).resolve("seed_cnn_binary.onnx");
        Files.createDirectories(file.getParent());
        model.save(file);
        JobRequest request = new JobRequest("job-" + version, new ModelRef("seed", version), file.toUri().toString(), file,
                null, PipelineSpec.parse(pipeline), calibration, evaluation, null, QualityGates.none());
        JobRunner.Settings settings = new JobRunner.Settings(2,
                new Evaluator.Settings(64, 0, 10, 2).withLatencyBudget(300, 1), StepLimits.none(), 0, null, memory);
        return new JobRunner(catalog, new OrtRuntime().service(Device.CPU, dir.resolve("ort")),
                dir.resolve("scratch-" + version), settings).run(request, JobListener.none(), Cancellation.never());
    }

    @Test
    void calibrationRunsOncePerMethodForEveryCandidateAndFallback() throws Exception {
        JobResult result = auto(TransformCatalog.of(calibrated()), "auto(min-sqnr-db=20,max-latency-ratio=10)", "1",
                TestModels.sampleCnn(), null);

        long calibratedCandidates = result.candidates().size();
        assertEquals(3, calibratedCandidates, "both methods failed, and the closer one was retried with a layer in "
                + "float: " + result.candidates());
        assertTrue(result.notes().stream().anyMatch(n -> n.startsWith("auto retried calibrated(method=")
                && n.contains(", the closest to passing min-sqnr-db, and not calibrated(method=")), result.notes().toString());
        assertTrue(applied.get("calibrated").get() >= calibratedCandidates);
        assertEquals(2, passes.size());
        assertEquals(1, passes.get("max").get(), "one calibration for every candidate of method=max");
        assertEquals(1, passes.get("abs").get(), "one calibration for every candidate of method=abs");
        SearchSummary search = result.search();
        assertEquals(2, search.statisticsComputed());
        assertEquals(applied.get("calibrated").get() - 2, search.statisticsReused(),
                "every other application read them");
        assertTrue(result.candidates().stream().anyMatch(c -> c.outcome().equals("chosen")
                && c.pipeline().contains("exclude-nodes=[/fc/Gemm]")), result.candidates().toString());
    }

    @Test
    void aSizeSearchTimesOnlyTheSmallestPassingCandidateAndNoneThatFailedAQualityGate() throws Exception {
        JobResult result = auto(TransformCatalog.of(round()), "auto(objective=size,max-accuracy-drop=0.01,"
                + "max-latency-ratio=2)", "1", TestModels.sampleCnn(), null);

        assertEquals("chosen", find(result, "round(bits=4)").outcome(), result.candidates().toString());
        for (String larger : List.of("round(bits=10)", "round(bits=18)")) {
            Candidate c = find(result, larger);
            assertEquals("skipped", c.outcome());
            assertTrue(c.reason().startsWith("cannot win: zipped it is "), c.reason());
            assertNull(c.evaluation().latency(), "never timed");
            assertNotNull(c.evaluation().accuracyAfter(), "but scored");
        }
        Candidate inaccurate = find(result, "round(shift=3)");
        assertEquals("rejected", inaccurate.outcome());
        assertTrue(inaccurate.reason().startsWith("max-accuracy-drop: "), inaccurate.reason());
        assertNull(inaccurate.evaluation().latency(), "failed a quality gate: never timed");
        assertEquals(1, result.search().timed());
        assertEquals(3, result.search().notTimed());
    }

    @Test
    void aRecipeThatOnlyChangesWeightsBeforeASlowRecipeIsNotRun() throws Exception {
        ModelTransform keep = transform(descriptor("keep", TransformKind.OPTIMIZER).recipe("keep").build(),
                (c, m, p) -> m);
        JobResult result = auto(TransformCatalog.of(keep, slow(), sparsify()), "auto(objective=latency)", "1",
                TestModels.sampleCnn(), null);

        assertEquals("rejected", find(result, "slow").outcome());
        Candidate chain = find(result, "sparsify,slow");
        assertEquals("skipped", chain.outcome());
        assertTrue(chain.reason().startsWith("cannot pass: its first steps only change weight values, so it runs as "
                + "fast as slow alone, which failed max-latency-ratio"), chain.reason());
        assertNull(applied.get("sparsify"), "the chain was never run");
        assertEquals(2, result.search().timed(), "keep and slow");
        assertEquals(1, result.search().notRun());
    }

    @Test
    void forLatencyARecipeThatOnlyChangesWeightsBeforeAnotherIsNotRun() throws Exception {
        ModelTransform keep = transform(descriptor("keep", TransformKind.OPTIMIZER).recipe("keep").build(),
                (c, m, p) -> m);
        JobResult result = auto(TransformCatalog.of(keep, sparsify("keep")), "auto(objective=latency)", "1",
                TestModels.sampleCnn(), null);

        Candidate chain = find(result, "sparsify,keep");
        assertEquals("skipped", chain.outcome());
        assertTrue(chain.reason().startsWith("cannot win: its first steps only change weight values, so it runs as "
                + "fast as keep alone, a candidate of this search"), chain.reason());
        assertNull(applied.get("sparsify"), "the chain was never run");
        assertEquals("chosen", find(result, "keep").outcome(), result.candidates().toString());
        assertEquals(1, result.search().notRun());
    }

    @Test
    void forLatencyARecipeWhoseFirstStepsOnlyChangeWeightsIsTriedWithoutThem() throws Exception {
        ModelTransform keep = transform(descriptor("keep", TransformKind.OPTIMIZER).build(), (c, m, p) -> m);
        JobResult result = auto(TransformCatalog.of(keep, sparsify("keep")), "auto(objective=latency)", "1",
                TestModels.sampleCnn(), null);

        assertEquals("chosen", find(result, "keep").outcome(), result.candidates().toString());
        assertNull(applied.get("sparsify"), "the weight-only step was left out");
        assertTrue(result.notes().stream().anyMatch(n -> n.startsWith("auto(objective=latency) tried sparsify,keep as "
                + "keep: the steps left out only change weight values")), result.notes().toString());
    }

    @Test
    void aSizeSearchRunsARecipeThatOnlyChangesWeightsBeforeAnother() throws Exception {
        ModelTransform keep = transform(descriptor("keep", TransformKind.OPTIMIZER).recipe("keep").build(),
                (c, m, p) -> m);
        JobResult result = auto(TransformCatalog.of(keep, sparsify("keep")), "auto(objective=size,max-latency-ratio=100)",
                "1", TestModels.sampleCnn(), null);

        assertNotNull(applied.get("sparsify"), "smaller at the same speed: it can win a size search");
        assertEquals(0, result.search().notRun());
    }

    @Test
    void aNewVersionStartsFromThePreviousWinnerAndItsStatistics() throws Exception {
        RecipeMemory memory = new RecipeMemory(dir.resolve("state").resolve("recipes"));
        TransformCatalog catalog = TransformCatalog.of(calibrated());
        String pipeline = "auto(min-sqnr-db=20,max-latency-ratio=10)";
        JobResult first = auto(catalog, pipeline, "1", TestModels.sampleCnn(), memory);
        String winner = first.candidates().stream().filter(c -> c.outcome().equals("chosen")).findFirst().orElseThrow()
                .pipeline();
        assertNull(first.search().rememberedPipeline());
        int passesBefore = passes.values().stream().mapToInt(AtomicInteger::get).sum();
        assertTrue(winner.startsWith("calibrated(") && winner.contains("exclude-nodes=[/fc/Gemm]"), winner);
        assertEquals(3, first.candidates().size(), first.candidates().toString());

        // version 2: the same network retrained a little (weights rounded), same inputs
        OnnxModel retrained = TestModels.mapWeights(TestModels.sampleCnn(), n -> true, w -> TestModels.keepMantissaBits(w, 16));
        JobResult second = auto(catalog, pipeline, "2", retrained, memory);

        SearchSummary search = second.search();
        assertEquals(winner, search.rememberedPipeline());
        assertEquals("1", search.rememberedVersion());
        assertEquals(Boolean.TRUE, search.rememberedChosen());
        assertEquals(1, second.candidates().size(), "only the remembered recipe ran");
        assertEquals(2, search.candidatesSaved(), "neither recipe of the catalog, nor their fallbacks, was tried");
        assertEquals(winner, second.candidates().get(0).pipeline());
        assertEquals("chosen", second.candidates().get(0).outcome());
        assertTrue(second.notes().stream().anyMatch(n -> n.contains("2 other candidates not tried")), second.notes().toString());
        assertEquals(passesBefore, passes.values().stream().mapToInt(AtomicInteger::get).sum(),
                "the previous version's statistics served: no calibration ran");
        assertEquals(1, search.statisticsReused());
        assertEquals(0, search.statisticsComputed());

        // inputs that changed recall nothing; nor does memory=false
        List<TensorInfo> inputs;
        try (InferenceSession session = new OrtRuntime().service(Device.CPU, dir.resolve("ort")).open(retrained)) {
            inputs = session.inputs();
        }
        assertTrue(memory.recall("seed", inputs).isPresent());
        TensorInfo in = inputs.get(0);
        long[] otherShape = in.shape().clone();
        otherShape[otherShape.length - 1] *= 2;
        assertTrue(memory.recall("seed", List.of(new TensorInfo(in.name(), in.type(), otherShape))).isEmpty(),
                "another input shape: nothing recalled");
        assertTrue(memory.recall("other-model", inputs).isEmpty());
        JobResult third = auto(catalog, "auto(min-sqnr-db=20,max-latency-ratio=10,memory=false)", "3", retrained, memory);
        assertNull(third.search().rememberedPipeline(), "memory=false");
    }

    @Test
    void aRememberedRecipeThatIsNotMeasurablyFasterDoesNotEndTheNextVersionsLatencySearch() throws Exception {
        RecipeMemory memory = new RecipeMemory(dir.resolve("state-latency").resolve("recipes"));
        ModelTransform keep = transform(descriptor("keep", TransformKind.OPTIMIZER).recipe("keep").build(),
                (c, m, p) -> m);
        TransformCatalog catalog = TransformCatalog.of(keep, round());
        String pipeline = "auto(objective=latency,min-sqnr-db=20)";
        JobResult first = auto(catalog, pipeline, "1", TestModels.sampleCnn(), memory);
        assertEquals("keep", first.candidates().stream().filter(c -> c.outcome().equals("chosen")).findFirst()
                .orElseThrow().pipeline(), "nothing is faster than the original: the graph-optimized model");

        JobResult second = auto(catalog, pipeline, "2", TestModels.sampleCnn(), memory);

        assertEquals("keep", second.search().rememberedPipeline());
        assertEquals(first.candidates().size(), second.candidates().size(),
                "every recipe was tried again, the remembered one once: " + second.candidates());
        assertTrue(second.notes().stream().anyMatch(n -> n.startsWith("auto tried keep first")
                && n.contains("it passed but is not measurably faster than the original")), second.notes().toString());
    }

    private static Candidate find(JobResult result, String pipeline) {
        return result.candidates().stream().filter(c -> c.pipeline().equals(pipeline)).findFirst().orElseThrow();
    }
}
