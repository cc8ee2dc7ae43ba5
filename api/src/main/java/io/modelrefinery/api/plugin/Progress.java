package io.modelrefinery.api.plugin;

/** Receives progress of a long step; shown on the terminal and in {@code GET /jobs/{id}}. Thread-safe. */
@FunctionalInterface
public interface Progress {

    /**
     * Reports that {@code done} of {@code total} units are finished.
     *
     * @param what the current activity, for example {@code "calibrating"}
     */
    void update(long done, long total, String what);

    /**
     * Reports a milestone that deserves a line of its own, such as a finished training epoch with its
     * loss and accuracy: never throttled on the terminal, and the job's progress until the next update.
     * The default forwards it as an update without counts.
     *
     * @since 1.2
     */
    default void milestone(String what) {
        update(0, 0, what);
    }

    /** Progress that goes nowhere. */
    static Progress none() {
        return (done, total, what) -> { };
    }
}
