package io.modelrefinery.testkit;

import io.modelrefinery.testkit.suites.Suites;
import org.junit.jupiter.api.Test;
import org.junit.platform.testkit.engine.EngineTestKit;
import org.junit.platform.testkit.engine.Event;
import org.junit.platform.testkit.engine.Events;
import org.opentest4j.AssertionFailedError;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

/**
 * The conformance suite run through the real JUnit engine: well-behaved plugins pass every rule, and a plugin
 * broken in one way fails exactly the rule it breaks, with a message that says what to fix.
 */
class TransformConformanceTestTest {
    private static final List<String> RULES = List.of("descriptorIsCompleteAndDocumented", "inputIsNeverMutated",
            "sameInputAndParamsGiveIdenticalOutput", "cancellationIsHonouredWithinBound",
            "invalidParamsAreRejectedBeforeWork", "outputPassesHostValidation");

    /** Each rule's test of {@code suite} and its failure message, or "passed". */
    private static Map<String, String> run(Class<?> suite) {
        Events tests = EngineTestKit.engine("junit-jupiter").selectors(selectClass(suite)).execute().testEvents();
        Map<String, String> outcomes = new TreeMap<>();
        for (Event event : tests.finished().list()) {
            String rule = event.getTestDescriptor().getDisplayName().replace("()", "");
            var result = event.getRequiredPayload(org.junit.platform.engine.TestExecutionResult.class);
            outcomes.put(rule, result.getThrowable().map(t -> (t instanceof AssertionFailedError ? "" : t.getClass().getName() + ": ")
                    + t.getMessage()).orElse("passed"));
        }
        assertEquals(new java.util.TreeSet<>(RULES), outcomes.keySet(), "every rule ran");
        return outcomes;
    }

    /** Asserts that only {@code rule} failed, with a message containing {@code expected}. */
    private static void failsOnly(Class<?> suite, String rule, String expected) {
        Map<String, String> outcomes = run(suite);
        for (String r : RULES) {
            if (r.equals(rule)) {
                assertTrue(outcomes.get(r).contains(expected), r + ": " + outcomes.get(r));
            } else {
                assertEquals("passed", outcomes.get(r), r + " of " + suite.getSimpleName());
            }
        }
    }

    @Test
    void wellBehavedTransformsAndConvertersPassEveryRule() {
        for (Class<?> suite : List.of(Suites.WellBehaved.class, Suites.GoodConverter.class)) {
            Map<String, String> outcomes = run(suite);
            outcomes.forEach((rule, outcome) -> assertEquals("passed", outcome, suite.getSimpleName() + " " + rule));
        }
    }

    @Test
    void anUndocumentedParameterFailsTheDescriptorRule() {
        failsOnly(Suites.UndocumentedParam.class, "descriptorIsCompleteAndDocumented",
                "parameter 'bits' is not documented: its doc must say in a sentence what it does, not 'Bits.'");
    }

    @Test
    void aConverterThatEditsItsInputFileFailsTheInputRule() {
        failsOnly(Suites.InputMutatingConverter.class, "inputIsNeverMutated",
                "'blob-to-onnx' changed its input on case blob: [input/model.blob changed]");
    }

    @Test
    void aTimestampInTheOutputFailsTheDeterminismRule() {
        failsOnly(Suites.Nondeterministic.class, "sameInputAndParamsGiveIdenticalOutput",
                "'keep-bits' gave different outputs for the same input and parameters on case mlp");
    }

    @Test
    void workThatNeverLooksAtTheCancellationFailsTheCancellationRule() {
        failsOnly(Suites.IgnoresCancellation.class, "cancellationIsHonouredWithinBound",
                "'keep-bits' was still running 300 ms after its job was cancelled (case mlp)");
    }

    @Test
    void aParameterCheckedOnlyInsideApplyFailsTheInvalidParamsRule() {
        failsOnly(Suites.ValidatesParamsLate.class, "invalidParamsAreRejectedBeforeWork",
                "'keep-bits' accepts {bits=0}, so the host would start a job with it; apply failed only after");
    }

    @Test
    void theKitProbesTheBoundsAValidatorDeclaresNotItsDescription() {
        failsOnly(Suites.DeclaresRangeItDoesNotCheck.class, "invalidParamsAreRejectedBeforeWork",
                "'keep-bits' accepts {bits=0}, so the host would start a job with it; apply failed only after");
    }

    @Test
    void aDanglingNodeInputFailsTheOutputValidationRule() {
        failsOnly(Suites.InvalidOutput.class, "outputPassesHostValidation",
                "'keep-bits' on case mlp: it produced an invalid model");
    }
}
