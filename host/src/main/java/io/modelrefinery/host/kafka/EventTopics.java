package io.modelrefinery.host.kafka;

import java.util.List;
import java.util.Objects;

/**
 * The topics the refinery reads and writes.
 *
 * @param registered where {@code model.registered} events arrive
 * @param optimized where {@code model.optimized} events go
 * @param failed where {@code model.failed} events go
 * @param deadLetter where records that failed go, unchanged, with error headers
 */
public record EventTopics(String registered, String optimized, String failed, String deadLetter) {
    public EventTopics {
        Objects.requireNonNull(registered, "registered");
        Objects.requireNonNull(optimized, "optimized");
        Objects.requireNonNull(failed, "failed");
        Objects.requireNonNull(deadLetter, "deadLetter");
    }

    /** {@code refinery.model.registered}, {@code .optimized}, {@code .failed}, {@code refinery.model.registered.dlq}. */
    public static EventTopics defaults() {
        return new EventTopics("refinery.model.registered", "refinery.model.optimized", "refinery.model.failed",
                "refinery.model.registered.dlq");
    }

    public List<String> all() {
        return List.of(registered, optimized, failed, deadLetter);
    }
}
