package io.modelrefinery.plugin.prune;

/**
 * A {@code pattern}: N of M kept, or unstructured ({@code m == 0}), or channel ({@code m < 0}); read when the
 * pipeline is validated, so that {@code pattern=4:2} is refused before the job starts.
 */
record PrunePattern(int n, int m) {
    private static final java.util.regex.Pattern N_OF_M = java.util.regex.Pattern.compile("([1-9][0-9]?):([1-9][0-9]?)");

    static PrunePattern parse(String text) {
        if (text.equals("unstructured")) {
            return new PrunePattern(0, 0);
        }
        if (text.equals("channel")) {
            return new PrunePattern(0, -1);
        }
        java.util.regex.Matcher nOfM = N_OF_M.matcher(text);
        if (!nOfM.matches()) {
            throw new IllegalArgumentException("not unstructured, channel or N:M");
        }
        int n = Integer.parseInt(nOfM.group(1));
        int m = Integer.parseInt(nOfM.group(2));
        if (n >= m) {
            throw new IllegalArgumentException("keeps every weight: N must be below M");
        }
        return new PrunePattern(n, m);
    }

    /** As written in a pipeline. */
    @Override
    public String toString() {
        return m == 0 ? "unstructured" : m < 0 ? "channel" : n + ":" + m;
    }

    boolean nOfM() {
        return m > 0;
    }

    boolean channel() {
        return m < 0;
    }
}
