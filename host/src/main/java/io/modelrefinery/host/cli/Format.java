package io.modelrefinery.host.cli;

import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.event.GateResult;

import java.util.ArrayList;
import java.util.List;
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

    /** One line of an evaluation: what was measured, then the gates. */
    static String evaluation(Evaluation e) {
        List<String> parts = new ArrayList<>();
        if (e.accuracyBefore() != null) {
            parts.add(String.format(Locale.ROOT, "accuracy %.2f%% -> %.2f%%", 100 * e.accuracyBefore(),
                    100 * e.accuracyAfter()));
        }
        if (e.sqnrDb() != null) {
            parts.add(String.format(Locale.ROOT, "SQNR %.1f dB", e.sqnrDb()));
        }
        if (e.top1Agreement() != null) {
            parts.add(String.format(Locale.ROOT, "top-1 agreement %.2f%%", 100 * e.top1Agreement()));
        }
        if (e.latencyMsBefore() != null) {
            String ratio = e.latency() == null ? "" : String.format(Locale.ROOT, " (%.2fx ±%.2f, %d pairs at batch %d)",
                    e.latency().ratio(), e.latency().noise(), e.latency().pairs(), e.latency().batch());
            parts.add(String.format(Locale.ROOT, "latency p50 %.3f -> %.3f ms%s", e.latencyMsBefore(), e.latencyMsAfter(),
                    ratio));
        }
        String line = (e.samples() > 0 ? "evaluated on " + bytes(e.samples()) + " samples: " : "evaluated: ")
                + String.join(", ", parts);
        if (!e.gates().isEmpty()) {
            line += "; gates passed: " + String.join(", ", e.gates().stream().map(GateResult::gate).toList());
        }
        return line;
    }
}
