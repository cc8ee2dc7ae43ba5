package io.modelrefinery.host.eval;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.event.GateResult;
import io.modelrefinery.api.plugin.InvalidParamException;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class QualityGatesTest {
    /** Accuracy 95.2% -> 94.5%, SQNR 31 dB, agreement 98%, latency 0.20 -> 0.30 ms. */
    private static final Evaluation MEASURED = new Evaluation(2000, "cpu", 0.952, 0.945, 31.0, 0.999, 0.98, 0.20, 0.30,
            0.25, 0.40, List.of());

    @Test
    void eachGatePassesWithinItsBoundAndFailsSayingByHowMuch() {
        QualityGates gates = QualityGates.parse(Map.of("max-latency-ratio", "1.2", "max-accuracy-drop", "0.005",
                "min-sqnr-db", "30", "min-top1-agreement", "0.99"), "--gate");

        List<GateResult> results = gates.check(MEASURED);

        assertEquals(List.of("max-accuracy-drop", "min-sqnr-db", "min-top1-agreement", "max-latency-ratio"),
                results.stream().map(GateResult::gate).toList(), "checked in declaration order");
        GateResult accuracy = results.get(0);
        assertFalse(accuracy.passed());
        assertEquals(0.007, accuracy.value(), 1e-12);
        assertEquals("accuracy dropped 0.70 points (95.20% -> 94.50%), 0.20 over the limit of 0.50", accuracy.detail());
        assertTrue(results.get(1).passed(), results.get(1).detail());
        assertEquals("top-1 agreement 98.00%, 1.00 points under the minimum of 99.00%", results.get(2).detail());
        GateResult latency = results.get(3);
        assertFalse(latency.passed());
        assertEquals(1.5, latency.value(), 1e-12);
        assertEquals("median latency 0.200 ms -> 0.300 ms, 1.50x the original's, over the limit of 1.20x", latency.detail());
    }

    @Test
    void looserGatesPass() {
        QualityGates gates = QualityGates.parseAssignments(List.of("max-accuracy-drop=0.01", "max-latency-ratio=2"), "--gate");

        Evaluation checked = MEASURED.withGates(gates.check(MEASURED));

        assertTrue(checked.passed());
        assertEquals(2, checked.gates().size());
    }

    @Test
    void refusesUnknownGatesAndBadValuesByName() {
        assertEquals("unknown gate 'max-size' in gate(...) (known: max-accuracy-drop, min-sqnr-db, min-top1-agreement, "
                + "max-latency-ratio)", assertThrows(InvalidParamException.class,
                () -> QualityGates.parse(Map.of("max-size", "3"), "gate(...)")).getMessage());
        assertEquals("invalid value 1.5 for parameter 'max-accuracy-drop' of '--gate': must be in [0, 1]",
                assertThrows(InvalidParamException.class, () -> QualityGates.parseAssignments(
                        List.of("max-accuracy-drop=1.5"), "--gate")).getMessage());
        assertEquals("invalid --gate 'min-sqnr-db': expected NAME=VALUE, such as max-accuracy-drop=0.01",
                assertThrows(InvalidParamException.class, () -> QualityGates.parseAssignments(
                        List.of("min-sqnr-db"), "--gate")).getMessage());
    }

    @Test
    void laterSourcesOverrideEarlierOnesGateByGate() {
        QualityGates config = QualityGates.parseAssignments(List.of("max-accuracy-drop=0.01", "max-latency-ratio=2"), "--gate");
        QualityGates pipeline = QualityGates.parseAssignments(List.of("max-latency-ratio=1.1"), "gate(...)");

        assertEquals(Map.of("max-accuracy-drop", 0.01, "max-latency-ratio", 1.1), config.overriddenBy(pipeline).limits());
    }

    @Test
    void refusesBeforeAnyWorkGatesTheSamplesCannotCheck() {
        QualityGates accuracy = QualityGates.parseAssignments(List.of("max-accuracy-drop=0.01"), "--gate");
        assertEquals("gate max-accuracy-drop needs evaluation samples: give --eval FILE or the event's evalUri",
                assertThrows(InvalidInputException.class, () -> accuracy.requireCheckable(false, false)).getMessage());
        assertEquals("gate max-accuracy-drop needs labelled evaluation samples: the evaluation data has no 'labels' array",
                assertThrows(InvalidInputException.class, () -> accuracy.requireCheckable(true, false)).getMessage());
        accuracy.requireCheckable(true, true);
        QualityGates.parseAssignments(List.of("max-latency-ratio=1.2"), "--gate").requireCheckable(false, false);
    }
}
