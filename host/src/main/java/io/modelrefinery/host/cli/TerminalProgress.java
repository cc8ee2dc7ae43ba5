package io.modelrefinery.host.cli;

import io.modelrefinery.api.event.Candidate;
import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.host.pipeline.JobListener;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * Shows a job's steps on stderr: one line per step, the evaluation and each candidate of {@code auto}, and
 * progress of long steps, redrawn in place on a terminal and throttled to a line every few seconds otherwise.
 */
final class TerminalProgress implements JobListener {
    private static final long INTERACTIVE_INTERVAL_NANOS = 200_000_000L;
    private static final long LOG_INTERVAL_NANOS = 5_000_000_000L;

    private final PrintWriter err;
    private final boolean interactive;
    private final long intervalNanos;
    private String prefix = "";
    private long lastUpdate;
    private boolean lineOpen;
    private long evaluationStart;

    TerminalProgress(PrintWriter err, boolean interactive) {
        this(err, interactive, interactive ? INTERACTIVE_INTERVAL_NANOS : LOG_INTERVAL_NANOS);
    }

    TerminalProgress(PrintWriter err, boolean interactive, long intervalNanos) {
        this.err = err;
        this.interactive = interactive;
        this.intervalNanos = intervalNanos;
    }

    @Override
    public synchronized void stepStarted(int index, int count, TransformDescriptor descriptor) {
        prefix = "[" + index + "/" + count + "] " + descriptor.id();
        lastUpdate = System.nanoTime();
        err.print(prefix + " ...");
        err.flush();
        lineOpen = true;
    }

    @Override
    public synchronized void evaluationStarted() {
        prefix = "evaluation";
        evaluationStart = System.nanoTime();
        lastUpdate = evaluationStart;
        err.print(prefix + " ...");
        err.flush();
        lineOpen = true;
    }

    @Override
    public void evaluationProgress(long done, long total, String what) {
        stepProgress(0, done, total, what);
    }

    @Override
    public synchronized void evaluationFinished(Evaluation evaluation) {
        finish((System.nanoTime() - evaluationStart) / 1_000_000);
    }

    @Override
    public synchronized void candidateStarted(String pipeline) {
        if (lineOpen) {
            err.println();
            lineOpen = false;
        }
        err.println("[auto] trying " + pipeline + " ...");
        err.flush();
    }

    @Override
    public synchronized void candidateFinished(int done, int total, Candidate candidate) {
        if (lineOpen) {
            err.println();
            lineOpen = false;
        }
        StringBuilder line = new StringBuilder("[auto " + done + "/" + total + "] " + candidate.pipeline() + ": "
                + candidate.outcome());
        if (candidate.gzipBytes() > 0) {
            line.append(", ").append(Format.bytes(candidate.gzipBytes())).append(" zipped bytes");
        }
        Evaluation e = candidate.evaluation();
        if (e != null && e.accuracyAfter() != null) {
            line.append(String.format(Locale.ROOT, ", accuracy %.2f%%", 100 * e.accuracyAfter()));
        } else if (e != null && e.sqnrDb() != null) {
            line.append(String.format(Locale.ROOT, ", SQNR %.1f dB", e.sqnrDb()));
        }
        if (e != null && e.latency() != null) {
            line.append(String.format(Locale.ROOT, ", latency %.2fx ±%.2f", e.latency().ratio(), e.latency().noise()));
        }
        if (!candidate.outcome().equals("passed") && candidate.reason() != null) {
            line.append(" (").append(candidate.reason()).append(')');
        }
        err.println(line);
        err.flush();
    }

    @Override
    public synchronized void stepProgress(int index, long done, long total, String what) {
        long now = System.nanoTime();
        if (now - lastUpdate < intervalNanos) {
            return;
        }
        lastUpdate = now;
        String percent = total > 0 ? String.format(Locale.ROOT, " (%.0f%%)", 100.0 * done / total) : "";
        String line = prefix + ": " + what + " " + done + (total > 0 ? "/" + total : "") + percent;
        if (interactive) {
            err.print("\r\033[K" + line);
        } else {
            if (lineOpen) {
                err.println();
            }
            err.println(line);
            lineOpen = false;
        }
        err.flush();
    }

    @Override
    public synchronized void stepMilestone(int index, String what) {
        String line = prefix + ": " + what;
        if (interactive) {
            err.println("\r\033[K" + line);
        } else {
            if (lineOpen) {
                err.println();
            }
            err.println(line);
        }
        lineOpen = false;
        lastUpdate = System.nanoTime();
        err.flush();
    }

    @Override
    public synchronized void stepFailed(int index, RuntimeException error) {
        err.println(interactive ? "\r\033[K" + prefix + " failed" : (lineOpen ? " failed" : prefix + " failed"));
        lineOpen = false;
        err.flush();
    }

    @Override
    public synchronized void stepFinished(int index, StepRecord record) {
        finish(record.durationMs());
    }

    private void finish(long millis) {
        String done = prefix + " done in " + Format.seconds(millis);
        if (interactive) {
            err.println("\r\033[K" + done);
        } else {
            err.println(lineOpen ? " done in " + Format.seconds(millis) : done);
        }
        lineOpen = false;
        err.flush();
    }
}
