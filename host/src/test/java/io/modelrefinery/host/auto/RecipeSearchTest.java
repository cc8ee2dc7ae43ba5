package io.modelrefinery.host.auto;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.event.Candidate;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.ParamRole;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.TransformKind;
import io.modelrefinery.host.eval.Evaluator;
import io.modelrefinery.host.eval.QualityGates;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.host.pipeline.JobListener;
import io.modelrefinery.host.pipeline.StepLimits;
import io.modelrefinery.host.pipeline.TransformCatalog;
import io.modelrefinery.testdata.FashionMnist;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static io.modelrefinery.host.testing.TestTransforms.compressor;
import static io.modelrefinery.host.testing.TestTransforms.descriptor;
import static io.modelrefinery.host.testing.TestTransforms.onnx;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The {@code auto} search over test transforms with known effects on the sample model: rounding weights
 * (smaller when zipped, less accurate the fewer bits are kept), shifting the dense layer's bias (loses accuracy),
 * and a stand-in static quantization that wrecks exactly one layer unless it is excluded.
 */
class RecipeSearchTest {
    @TempDir
    static Path dir;
    private static JobData data;
    private static OnnxModel sample;

    static final ParamSpec<Integer> BITS = ParamSpec.integer("bits").defaultValue(23).doc("Mantissa bits kept.").build();
    static final ParamSpec<Double> SHIFT = ParamSpec.decimal("shift").defaultValue(0.0)
            .doc("Added to the dense bias: costs accuracy.").build();
    static final ParamSpec<String> METHOD = ParamSpec.string("method").defaultValue("min-max").doc("Ignored.").build();
    static final ParamSpec<List<String>> EXCLUDE = ParamSpec.list("exclude-nodes").defaultValue(List.of())
            .role(ParamRole.NODE_EXCLUSION).doc("Nodes left alone.").build();
    /** A third party's name for the same idea: the host finds it by its role. */
    static final ParamSpec<List<String>> KEEP_FLOAT = ParamSpec.list("keep-float").defaultValue(List.of())
            .role(ParamRole.NODE_EXCLUSION).doc("Nodes left alone.").build();

    @BeforeAll
    static void data() throws Exception {
        FashionMnist.assumeAvailable();
        Path eval = FashionMnist.binary(FashionMnist.Split.TEST, 600).writeNpz(dir.resolve("eval.npz"));
        data = new JobData(null, Datasets.open(eval, "input"), null);
        sample = TestModels.sampleCnn();
    }

    private static final ModelTransform ROUND = onnx(compressor("round").param(BITS).param(SHIFT).build(), (c, m, p) -> {
        OnnxModel rounded = TestModels.mapWeights(m, name -> true, w -> TestModels.keepMantissaBits(w, p.get(BITS)));
        return TestModels.mapWeights(rounded, "fc.bias"::equals, b -> b + p.get(SHIFT));
    });

    private static final ModelTransform CALIBRATED = onnx(compressor("calibrated").requires(DataRole.CALIBRATION)
            .build(), (c, m, p) -> m);

    /** Flips the sign of the dense layer's weights unless its node is excluded; leaves the convolutions alone. */
    private static final ModelTransform FAKE_STATIC = onnx(compressor("quantize-static").param(METHOD).param(EXCLUDE)
            .layerFallback().build(), (c, m, p) -> TestModels.denseLayerRuinedUnless(p.get(EXCLUDE), m));

    /** The same stand-in under another id and parameter name, as a third-party quantizer would declare it. */
    private static final ModelTransform THIRD_PARTY = onnx(compressor("vendor-quantizer").param(KEEP_FLOAT)
            .layerFallback().recipe("vendor-quantizer").build(),
            (c, m, p) -> TestModels.denseLayerRuinedUnless(p.get(KEEP_FLOAT), m));

    /** Wrecks the dense layer too, but declares no layer fallback: auto must not retry it. */
    private static final ModelTransform NO_FALLBACK = onnx(compressor("no-fallback").param(EXCLUDE).build(),
            (c, m, p) -> TestModels.denseLayerRuinedUnless(p.get(EXCLUDE), m));

    /** The sample with ten large matrix products added whose result is multiplied by zero: as accurate, much slower. */
    private static final ModelTransform SLOW = onnx(compressor("slow").build(), (c, m, p) -> TestModels.slowedDown(m));

    /** Stands in for graph-optimize: the same model, as fast as the original. */
    private static final ModelTransform SAME = onnx(descriptor("graph-optimize", TransformKind.OPTIMIZER).build(),
            (c, m, p) -> m);

    private static RecipeSearch.Outcome search(List<String> recipes, String gates, JobData jobData, List<Candidate> seen) {
        return search(recipes, gates, jobData, seen, AutoSettings.defaults());
    }

    private static RecipeSearch.Outcome search(List<String> recipes, String gates, JobData jobData, List<Candidate> seen,
                                               AutoSettings settings) {
        RecipeSearch search = new RecipeSearch(recipes, TransformCatalog.of(ROUND, CALIBRATED, FAKE_STATIC,
                THIRD_PARTY, NO_FALLBACK, SLOW, SAME),
                new OrtRuntime().service(Device.CPU, dir.resolve("ort")), dir.resolve("auto-" + System.nanoTime()), 2,
                new Evaluator.Settings(64, 0, 10, 2), StepLimits.none(), "job-test", Cancellation.never());
        QualityGates gateSet = gates.isEmpty() ? QualityGates.none()
                : QualityGates.parseAssignments(List.of(gates.split(",")), "auto(...)");
        return search.search(ModelArtifact.onnx(sample), ModelFormat.ONNX, jobData, gateSet, settings,
                "seed_cnn_binary.onnx", new JobListener() {
                    @Override
                    public void candidateFinished(int done, int total, Candidate candidate) {
                        seen.add(candidate);
                    }
                });
    }

    private static Candidate find(List<Candidate> candidates, String pipeline) {
        return candidates.stream().filter(c -> c.pipeline().equals(pipeline)).findFirst().orElseThrow();
    }

    @Test
    void choosesTheSmallestCandidateThatPassesAndSaysWhyTheOthersLost() {
        List<Candidate> seen = new ArrayList<>();
        RecipeSearch.Outcome outcome = search(List.of("round(bits=4)", "round(bits=10)", "round(bits=18)",
                "round(shift=3)", "sharpen", "calibrated"), "max-accuracy-drop=0.005", data, seen);

        List<Candidate> candidates = outcome.candidates();
        assertEquals(6, candidates.size());
        assertEquals(candidates.stream().map(Candidate::pipeline).toList(), seen.stream().map(Candidate::pipeline).toList(),
                "each candidate reported as it finished");
        assertTrue(find(candidates, "round(bits=4)").gzipBytes() < find(candidates, "round(bits=10)").gzipBytes());
        assertTrue(find(candidates, "round(bits=10)").gzipBytes() < find(candidates, "round(bits=18)").gzipBytes());
        Candidate scaled = find(candidates, "round(shift=3)");
        assertEquals("rejected", scaled.outcome());
        assertTrue(scaled.reason().startsWith("max-accuracy-drop: accuracy dropped "), scaled.reason());
        assertEquals("skipped", find(candidates, "sharpen").outcome());
        assertTrue(find(candidates, "sharpen").reason().startsWith("unknown transform 'sharpen'"));
        assertEquals("step 1 'calibrated' needs calibration samples: give --calibration FILE or the event's calibrationUri",
                find(candidates, "calibrated").reason());

        assertTrue(outcome.passed());
        List<Candidate> chosen = candidates.stream().filter(c -> c.outcome().equals("chosen")).toList();
        assertEquals(1, chosen.size());
        assertEquals(chosen.get(0).pipeline(), outcome.pipeline().toString());
        for (Candidate c : candidates) {
            if (c.outcome().equals("passed")) {
                assertTrue(c.gzipBytes() >= chosen.get(0).gzipBytes(), c + " is smaller than the chosen one");
            }
        }
        assertTrue(outcome.evaluation().passed());
        assertTrue(chosen.get(0).reason().startsWith("smallest zipped size, "), chosen.get(0).reason());
        assertTrue(outcome.notes().stream().anyMatch(n -> n.startsWith("auto chose " + chosen.get(0).pipeline())),
                outcome.notes().toString());
    }

    @Test
    void aStaticQuantizationThatFailsIsRetriedWithItsMostSensitiveLayerInFloat() {
        List<Candidate> seen = new ArrayList<>();
        RecipeSearch.Outcome outcome = search(List.of("quantize-static(method=min-max)"), "max-accuracy-drop=0.005", data,
                seen);

        List<Candidate> candidates = outcome.candidates();
        assertEquals("rejected", candidates.get(0).outcome());
        Candidate fallback = candidates.get(1);
        assertEquals("quantize-static(method=min-max,exclude-nodes=[/fc/Gemm])", fallback.pipeline());
        assertEquals("chosen", fallback.outcome());
        assertTrue(fallback.reason().contains("the 1 most sensitive of 3 layers left in float"), fallback.reason());
        assertEquals(2, candidates.size(), "the first layer left in float was enough");
        assertEquals(fallback.pipeline(), outcome.pipeline().toString());
    }

    @Test
    void aThirdPartyTransformWithALayerFallbackIsRetriedThroughItsOwnExclusionParameter() {
        RecipeSearch.Outcome outcome = search(List.of("vendor-quantizer", "no-fallback"), "max-accuracy-drop=0.005", data,
                new ArrayList<>());

        List<Candidate> candidates = outcome.candidates();
        assertEquals(List.of("vendor-quantizer", "no-fallback", "vendor-quantizer(keep-float=[/fc/Gemm])"),
                candidates.stream().map(Candidate::pipeline).toList(), "only the transform with a layer fallback is retried");
        assertEquals("rejected", candidates.get(1).outcome());
        assertEquals("chosen", candidates.get(2).outcome());
    }

    @Test
    void theRecipesAreTheInstalledTransformsOwnCheapestFirst() {
        ModelTransform trains = onnx(compressor("trains").requires(DataRole.TRAINING).recipe("trains").build(),
                (c, m, p) -> m);
        ModelTransform optimizer = onnx(descriptor("tidy", TransformKind.OPTIMIZER)
                .recipe("tidy").build(), (c, m, p) -> m);
        ModelTransform chains = onnx(compressor("chains").recipe("chains,tidy").recipe("chains(x=1)").build(),
                (c, m, p) -> m);
        ModelTransform calibrates = onnx(compressor("calibrates").requires(DataRole.CALIBRATION)
                .recipe("calibrates").build(), (c, m, p) -> m);

        // data needed (none, samples, training), then optimizers first, single steps first, id, declaration order;
        // a recipe that does not fit the installed transform (chains takes no x) sorts with those needing samples
        assertEquals(List.of("tidy", "vendor-quantizer", "chains,tidy", "calibrates", "chains(x=1)", "trains"),
                AutoRecipes.of(TransformCatalog.of(trains, optimizer, chains, calibrates, THIRD_PARTY, ROUND)));
    }

    @Test
    void withoutAnyCandidatePassingTheClosestIsReturnedAsRejected() {
        RecipeSearch.Outcome outcome = search(List.of("round(shift=3)", "round(shift=4)"), "max-accuracy-drop=0.001",
                data, new ArrayList<>());

        assertFalse(outcome.passed());
        assertTrue(outcome.notes().get(outcome.notes().size() - 1).startsWith("auto: no candidate passed the gates"),
                outcome.notes().toString());
    }

    @Test
    void defaultGatesApplyWhenNoneAreSetAndTheReportSaysSo() {
        RecipeSearch.Outcome outcome = search(List.of("round(bits=10)"), "", data, new ArrayList<>());

        assertTrue(outcome.notes().contains("auto applied the default gates max-accuracy-drop=0.01,max-latency-ratio=1.5: "
                + "the job set none"), outcome.notes().toString());
        Set<String> gates = new HashSet<>();
        outcome.evaluation().gates().forEach(g -> gates.add(g.gate()));
        assertEquals(Set.of("max-accuracy-drop", "max-latency-ratio"), gates);
    }

    @Test
    void needsSamplesToScoreCandidates() {
        assertEquals("auto needs evaluation samples to check its candidates: give --eval FILE or the event's evalUri "
                + "(calibration samples serve for fidelity when there are no others)",
                assertThrows(InvalidInputException.class, () -> search(List.of("round"), "", JobData.none(),
                        new ArrayList<>())).getMessage());
    }

    private static final AutoSettings FOR_LATENCY = new AutoSettings(Objective.LATENCY, true);

    @Test
    void forLatencyASlowerCandidateIsRefusedAndWithoutAFasterOneTheGraphOptimizedModelIsPublished() {
        RecipeSearch.Outcome outcome = search(List.of("slow", "graph-optimize"), "", data, new ArrayList<>(), FOR_LATENCY);

        Candidate slow = find(outcome.candidates(), "slow");
        assertEquals("rejected", slow.outcome());
        assertTrue(slow.reason().startsWith("max-latency-ratio: latency ") && slow.reason().contains(
                "slower by more than the noise"), slow.reason());
        assertTrue(slow.evaluation().latency().ratio() > 1.5, slow.evaluation().latency().toString());
        assertTrue(outcome.passed());
        assertEquals("graph-optimize", outcome.pipeline().toString());
        Candidate chosen = find(outcome.candidates(), "graph-optimize");
        assertEquals("chosen", chosen.outcome());
        assertTrue(chosen.reason().startsWith("no candidate is measurably faster than the original (the fastest, "
                + "graph-optimize, at "), chosen.reason());
        assertTrue(chosen.reason().contains("so the graph-optimized model, which computes what the original does"),
                chosen.reason());
        assertTrue(outcome.notes().contains("auto applied the default gates max-accuracy-drop=0.01: the job set none"),
                outcome.notes().toString());
    }

    @Test
    void forLatencyEvenAnExplicitLatencyBoundDoesNotLetASlowerCandidateBeChosen() {
        RecipeSearch.Outcome outcome = search(List.of("slow"), "max-accuracy-drop=0.01,max-latency-ratio=1000", data,
                new ArrayList<>(), FOR_LATENCY);

        assertFalse(outcome.passed());
        Candidate slow = find(outcome.candidates(), "slow");
        assertEquals("rejected", slow.outcome());
        assertTrue(slow.reason().startsWith("auto(objective=latency) never chooses a candidate slower than the "
                + "original: "), slow.reason());
    }

    @Test
    void forSizeASlowerCandidateIsAllowedWhenTheGatesSetNoLatencyBound() {
        RecipeSearch.Outcome outcome = search(List.of("slow"), "max-accuracy-drop=0.01", data, new ArrayList<>());

        assertTrue(outcome.passed(), outcome.candidates().toString());
        assertEquals("slow", outcome.pipeline().toString());
        assertEquals(List.of("max-accuracy-drop"), outcome.evaluation().gates().stream().map(g -> g.gate()).toList());
    }
}
