package io.modelrefinery.host.auto;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntPredicate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The search over how many layers to leave in float, against every answer for small and large rankings. */
class LayerCountsTest {
    /**
     * Runs the search where a count passes when {@code passes} says so; returns the counts tried, in order;
     * {@code out[0]} the fewest passing, {@code out[1]} the rounds (counts tried together are one round).
     */
    private static List<Integer> search(int layers, int width, IntPredicate passes, int[] out) {
        LayerCounts counts = new LayerCounts(layers);
        List<Integer> tried = new ArrayList<>();
        out[1] = 0;
        while (!counts.settled()) {
            out[1]++;
            List<Integer> next = counts.next(width);
            assertTrue(!next.isEmpty() && next.size() <= width, next.toString());
            for (int n : next) {
                assertTrue(n >= 1 && n <= layers && !tried.contains(n), "tried twice or out of range: " + n + " in " + tried);
                tried.add(n);
                counts.record(n, passes.test(n));
            }
        }
        out[0] = counts.fewestPassing();
        return tried;
    }

    @Test
    void findsTheFewestPassingCountForEveryAnswerInAboutTwoLogRounds() {
        for (int layers : new int[]{1, 2, 3, 7, 16, 52}) {
            for (int width : new int[]{1, 2, 3}) {
                for (int answer = 1; answer <= layers + 1; answer++) {
                    int a = answer;
                    int[] out = new int[2];
                    List<Integer> tried = search(layers, width, n -> n >= a, out);
                    assertEquals(answer, out[0], layers + " layers, width " + width + ": " + tried);
                    int log = 32 - Integer.numberOfLeadingZeros(layers);
                    assertTrue(out[1] <= 2 * log + 1, layers + " layers, answer " + answer + ": " + tried);
                    if (width == 1) {
                        assertEquals(out[1], tried.size());
                    }
                }
            }
        }
    }

    @Test
    void oneTrialWhenTheFirstLayerIsEnoughAndFiveWhenSixteenAreNot() {
        int[] fewest = new int[2];
        assertEquals(List.of(1), search(16, 2, n -> true, fewest));
        assertEquals(1, fewest[0]);
        assertEquals(List.of(1, 2, 4, 8, 16), search(16, 2, n -> false, fewest));
        assertEquals(17, fewest[0], "none passed");
        assertEquals(List.of(1, 2, 4, 3), search(16, 1, n -> n >= 3, fewest));
    }

    @Test
    void aSettledSearchHasNothingMoreToTry() {
        LayerCounts counts = new LayerCounts(1);
        counts.record(1, false);
        assertTrue(counts.settled());
        assertThrows(IllegalStateException.class, () -> counts.next(1));
        assertThrows(IllegalArgumentException.class, () -> new LayerCounts(0));
    }
}
