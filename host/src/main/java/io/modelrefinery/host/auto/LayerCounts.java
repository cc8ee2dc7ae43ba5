package io.modelrefinery.host.auto;

import java.util.ArrayList;
import java.util.List;

/**
 * The search over how many of a layer fallback's ranked layers to leave in float: the fewest that pass.
 * Counts double (1, 2, 4, ... and then all of them) until one passes, then the gap between the most that
 * failed and the fewest that passed is halved until they are neighbours: about {@code 2 log2(n)} trials
 * instead of the {@code n} of adding one layer at a time (each trial is a full quantization of the model),
 * one when the first layer is enough, and {@code log2(n) + 1} when even all of them are not. Like the
 * one-at-a-time search it takes that a layer more in float never makes the model less accurate.
 */
final class LayerCounts {
    private final int layers;
    /** The most layers tried that failed (0: the recipe itself, which failed) and the fewest that passed. */
    private int mostFailing;
    private int fewestPassing;

    /** @param layers how many ranked layers there are, at least 1 */
    LayerCounts(int layers) {
        if (layers < 1) {
            throw new IllegalArgumentException("no layers to leave in float");
        }
        this.layers = layers;
        this.fewestPassing = layers + 1;
    }

    /**
     * Whether the fewest passing count is known, or no count passes: the most failing and the fewest passing
     * are neighbours (all layers failing leaves the fewest passing at {@code layers + 1}).
     */
    boolean settled() {
        return fewestPassing - mostFailing == 1;
    }

    /**
     * The next counts to try, at most {@code width} (tried together), in increasing order: while none passed,
     * the next doubling alone; then counts evenly splitting the gap.
     */
    List<Integer> next(int width) {
        if (settled()) {
            throw new IllegalStateException("the count is settled");
        }
        if (fewestPassing > layers) {
            // one at a time: a doubling tried beside the one before it is wasted whenever that one passes
            return List.of(Math.min(layers, Math.max(1, mostFailing * 2)));
        }
        List<Integer> counts = new ArrayList<>();
        int gap = fewestPassing - mostFailing;
        int parts = Math.min(width + 1, gap);
        for (int i = 1; i < parts; i++) {
            int n = mostFailing + (int) ((long) gap * i / parts);
            if (counts.isEmpty() || n > counts.get(counts.size() - 1)) {
                counts.add(n);
            }
        }
        return counts;
    }

    /** Records whether leaving the {@code count} most sensitive layers in float passed the quality gates. */
    void record(int count, boolean passed) {
        if (passed) {
            fewestPassing = Math.min(fewestPassing, count);
        } else if (count < fewestPassing) {
            mostFailing = Math.max(mostFailing, count);
        }
    }

    /** The fewest count that passed; {@code layers + 1} when none did. */
    int fewestPassing() {
        return fewestPassing;
    }
}
