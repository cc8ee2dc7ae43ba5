package io.modelrefinery.host.auto;

import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.event.LatencyEstimate;
import io.modelrefinery.host.pipeline.PipelineSpec;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The selection rule of {@code auto(objective=latency)} on candidates with given latency figures. */
class LatencyChoiceTest {
    private final Map<PipelineSpec, Evaluation> evaluations = new LinkedHashMap<>();

    private PipelineSpec candidate(String recipe, double ratio, double noise) {
        PipelineSpec spec = PipelineSpec.parse(recipe);
        evaluations.put(spec, new Evaluation(0, "cpu", null, null, null, null, null, 1.0, ratio, 1.0, ratio, List.of(),
                new LatencyEstimate(ratio, noise, 100, 1)));
        return spec;
    }

    private LatencyChoice.Choice<PipelineSpec> choose(List<PipelineSpec> candidates) {
        // graph-optimize stands for any recipe of optimizer-kind steps, as RecipeSearch reads them from descriptors
        return LatencyChoice.choose(candidates, s -> s, evaluations::get, s -> s.toString().equals("graph-optimize"));
    }

    @Test
    void theFastestWinsWhenItIsMeasurablyFaster() {
        List<PipelineSpec> all = List.of(candidate("graph-optimize", 0.99, 0.05), candidate("quantize-static", 0.55, 0.05),
                candidate("quantize-dynamic", 0.8, 0.05));

        LatencyChoice.Choice<PipelineSpec> choice = choose(all);

        assertEquals(Optional.of(PipelineSpec.parse("quantize-static")), choice.pick());
        assertEquals(Optional.empty(), choice.note());
    }

    @Test
    void withoutAMeasurablyFasterCandidateTheGraphOptimizedModelIsChosenAndTheNoteSaysSo() {
        List<PipelineSpec> all = List.of(candidate("fp16", 0.97, 0.05), candidate("graph-optimize", 1.01, 0.05));

        LatencyChoice.Choice<PipelineSpec> choice = choose(all);

        assertEquals(Optional.of(PipelineSpec.parse("graph-optimize")), choice.pick());
        assertEquals("no candidate is measurably faster than the original (the fastest, fp16, at 0.97x the original's "
                + "latency ±0.05), so the graph-optimized model, which computes what the original does",
                choice.note().orElseThrow());
    }

    @Test
    void withoutAGraphOptimizedCandidateTheFastestNotSlowerOneIsChosenAndTheNoteSaysSo() {
        LatencyChoice.Choice<PipelineSpec> choice = choose(List.of(candidate("fp16", 1.02, 0.05)));

        assertEquals(Optional.of(PipelineSpec.parse("fp16")), choice.pick());
        assertTrue(choice.note().orElseThrow().endsWith("and no graph-optimized one passed, so the fastest, which is "
                + "not slower"), choice.note().orElseThrow());
    }

    @Test
    void slowerMeansSlowerByMoreThanTheNoise() {
        candidate("a", 1.04, 0.05);
        candidate("b", 1.06, 0.05);
        candidate("c", 0.94, 0.05);

        assertFalse(LatencyChoice.slower(evaluations.get(PipelineSpec.parse("a"))));
        assertTrue(LatencyChoice.slower(evaluations.get(PipelineSpec.parse("b"))));
        assertTrue(LatencyChoice.faster(evaluations.get(PipelineSpec.parse("c"))));
        assertFalse(LatencyChoice.faster(evaluations.get(PipelineSpec.parse("a"))));
        assertEquals(Optional.empty(), choose(List.of()).pick());
    }
}
