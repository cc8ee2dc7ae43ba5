package io.modelrefinery.host.job;

import io.modelrefinery.api.plugin.InvalidParamException;
import io.modelrefinery.host.auto.Objective;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.pipeline.PipelineSyntaxException;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JobPipelineTest {
    private static JobPipeline read(String spec) {
        return JobPipeline.of(PipelineSpec.parse(spec));
    }

    @Test
    void aTrailingGateStepSetsGatesAndLeavesTheTransforms() {
        JobPipeline pipeline = read("graph-optimize,fp16,gate(max-accuracy-drop=0.005,max-latency-ratio=1.2)");

        assertEquals("graph-optimize,fp16", pipeline.transforms().toString());
        assertEquals(Map.of("max-accuracy-drop", 0.005, "max-latency-ratio", 1.2), pipeline.gates().limits());
        assertTrue(pipeline.auto().isEmpty());
    }

    @Test
    void autoTakesItsObjectiveAndGatesAsParameters() {
        JobPipeline pipeline = read("auto(objective=latency,max-accuracy-drop=0.005,fallback=false)");

        assertTrue(pipeline.transforms().steps().isEmpty());
        assertEquals(Objective.LATENCY, pipeline.auto().orElseThrow().objective());
        assertFalse(pipeline.auto().orElseThrow().fallback());
        assertEquals(Map.of("max-accuracy-drop", 0.005), pipeline.gates().limits());
        assertEquals(Objective.SIZE, read("auto").auto().orElseThrow().objective(), "the default objective");
    }

    @Test
    void refusesMisplacedOrUnknownDirectives() {
        assertEquals("pipeline 'gate(min-sqnr-db=30),fp16': 'gate' must be the last step",
                assertThrows(PipelineSyntaxException.class, () -> read("gate(min-sqnr-db=30),fp16")).getMessage());
        assertEquals("pipeline 'fp16,auto': 'auto' chooses the steps itself and cannot be combined with others; put its "
                + "gates in its parameters", assertThrows(PipelineSyntaxException.class, () -> read("fp16,auto")).getMessage());
        assertEquals("unknown parameter 'speed' for 'auto' (known: [objective, fallback, memory, max-accuracy-drop, min-sqnr-db, "
                + "min-top1-agreement, max-latency-ratio])",
                assertThrows(InvalidParamException.class, () -> read("auto(speed=fast)")).getMessage());
        assertEquals("invalid value 'tiny' for parameter 'objective' of 'auto': expected one of size, latency, balanced",
                assertThrows(InvalidParamException.class, () -> read("auto(objective=tiny)")).getMessage());
        // parsed by Params.parse like a transform's step: every problem at once
        assertEquals(List.of("unknown parameter 'speed' for 'auto' (known: [objective, fallback, memory, max-accuracy-drop, "
                        + "min-sqnr-db, min-top1-agreement, max-latency-ratio])",
                "invalid value 'tiny' for parameter 'objective' of 'auto': expected one of size, latency, balanced",
                "invalid value 2.0 for parameter 'max-accuracy-drop' of 'auto': must be in [0, 1]"),
                assertThrows(InvalidParamException.class, () -> read("auto(speed=fast,objective=tiny,max-accuracy-drop=2)"))
                        .problems());
        assertEquals("unknown parameter 'max-size' for 'gate' (known: [max-accuracy-drop, min-sqnr-db, "
                + "min-top1-agreement, max-latency-ratio])",
                assertThrows(InvalidParamException.class, () -> read("fp16,gate(max-size=3)")).getMessage());
        assertEquals("pipeline 'fp16,gate': 'gate' sets no gate (known: max-accuracy-drop, min-sqnr-db, "
                + "min-top1-agreement, max-latency-ratio)",
                assertThrows(PipelineSyntaxException.class, () -> read("fp16,gate")).getMessage());
        assertEquals("pipeline 'gate(min-sqnr-db=30)' has no transform step",
                assertThrows(PipelineSyntaxException.class, () -> read("gate(min-sqnr-db=30)")).getMessage());
    }
}
