package io.modelrefinery.host.cli;

import java.util.Locale;

/** Numbers as the CLI prints them. */
final class Format {
    private Format() {
    }

    static String bytes(long n) {
        return String.format(Locale.ROOT, "%,d", n);
    }

    static String seconds(long millis) {
        return String.format(Locale.ROOT, "%.2f s", millis / 1000.0);
    }

    /** Relative change from {@code before} to {@code after}, signed, in percent. */
    static String change(long before, long after) {
        if (before == 0) {
            return "n/a";
        }
        return String.format(Locale.ROOT, "%+.1f%%", 100.0 * (after - before) / before);
    }
}
