package io.modelrefinery.host.pipeline;

import java.time.Duration;
import java.util.Objects;

/**
 * How long one pipeline step may run. When the time is up the step's cancellation is set and its thread
 * interrupted; a step that then ends within {@code grace} fails cleanly, one that does not is abandoned
 * (its thread is a daemon and keeps nothing the job needs) so that the worker is free for the next job.
 *
 * @param timeout the time a step may take; {@link Duration#ZERO} for no limit
 * @param grace how long a timed-out step has to stop
 */
public record StepLimits(Duration timeout, Duration grace) {
    private static final StepLimits NONE = new StepLimits(Duration.ZERO, Duration.ZERO);

    public StepLimits {
        Objects.requireNonNull(timeout, "timeout");
        Objects.requireNonNull(grace, "grace");
        if (timeout.isNegative() || grace.isNegative()) {
            throw new IllegalArgumentException("step limits must not be negative: " + timeout + ", " + grace);
        }
    }

    /** No time limit: steps run on the job's thread. */
    public static StepLimits none() {
        return NONE;
    }

    /** A limit of {@code timeout}, with ten seconds (at most the timeout) for the step to stop. */
    public static StepLimits of(Duration timeout) {
        return new StepLimits(timeout, timeout.compareTo(Duration.ofSeconds(10)) < 0 ? timeout : Duration.ofSeconds(10));
    }

    public boolean limited() {
        return !timeout.isZero();
    }
}
