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

    /** Progress that goes nowhere. */
    static Progress none() {
        return (done, total, what) -> { };
    }
}
