package io.modelrefinery.host.pipeline;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class PipelineSpecTest {

    @Test
    void parsesStepsParametersAndLists() {
        PipelineSpec spec = PipelineSpec.parse(
                " prune(sparsity=0.8, method=reconstruct) , quantize-static(method=entropy,exclude=[Softmax, Sigmoid]),fp16");

        assertEquals(List.of(
                new StepSpec("prune", Map.of("sparsity", "0.8", "method", "reconstruct")),
                new StepSpec("quantize-static", Map.of("method", "entropy", "exclude", "[Softmax, Sigmoid]")),
                new StepSpec("fp16", Map.of())), spec.steps());
        assertEquals("prune(sparsity=0.8,method=reconstruct),quantize-static(method=entropy,exclude=[Softmax, Sigmoid]),fp16",
                spec.toString());
        assertEquals(spec, PipelineSpec.parse(spec.toString()));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "prune(sparsity=0.8|pipeline 'prune(sparsity=0.8': missing ')'",
            "prune),fp16|pipeline 'prune),fp16': unexpected ')' at position 6",
            "fp16,,prune|pipeline 'fp16,,prune' has an empty step",
            "Fp16|pipeline 'Fp16': step 'Fp16' is not NAME or NAME(param=value,...) with a lowercase dashed name",
            "prune(0.8)|pipeline 'prune(0.8)': parameter '0.8' of 'prune' is not name=value",
            "prune(a=1,a=2)|pipeline 'prune(a=1,a=2)': parameter 'a' of 'prune' is set twice",
            "q(list=[a,b)|pipeline 'q(list=[a,b)': missing ']'",
    })
    void namesWhatDoesNotParse(String text, String message) {
        assertEquals(message, assertThrows(PipelineSyntaxException.class, () -> PipelineSpec.parse(text)).getMessage());
    }

    @Test
    void refusesAnEmptyPipeline() {
        assertEquals("pipeline is empty", assertThrows(PipelineSyntaxException.class, () -> PipelineSpec.parse(" "))
                .getMessage());
    }

    @Test
    void jobIdsAreDeterministic() {
        PipelineSpec a = PipelineSpec.parse("fp16");
        assertEquals(JobIds.of("m", "1", a), JobIds.of("m", "1", PipelineSpec.parse(" fp16 ")));
        assertEquals(20, JobIds.of("m", "1", a).length());
        assertEquals(false, JobIds.of("m", "1", a).equals(JobIds.of("m", "2", a)));
        assertEquals(false, JobIds.of("m", "1", a).equals(JobIds.of("m1", "", a)));
    }
}
