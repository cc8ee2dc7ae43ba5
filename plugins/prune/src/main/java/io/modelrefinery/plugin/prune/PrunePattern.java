package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.InvalidInputException;

/** A parsed {@code pattern}: N of M kept, or unstructured ({@code m == 0}), or channel ({@code m < 0}). */
record PrunePattern(int n, int m) {
    static PrunePattern parse(String text) {
        if (text.equals("unstructured")) {
            return new PrunePattern(0, 0);
        }
        if (text.equals("channel")) {
            return new PrunePattern(0, -1);
        }
        String[] parts = text.split(":");
        int n = Integer.parseInt(parts[0]);
        int m = Integer.parseInt(parts[1]);
        if (n >= m) {
            throw new InvalidInputException("pattern " + text + " keeps every weight: N must be below M");
        }
        return new PrunePattern(n, m);
    }

    boolean nOfM() {
        return m > 0;
    }

    boolean channel() {
        return m < 0;
    }
}
