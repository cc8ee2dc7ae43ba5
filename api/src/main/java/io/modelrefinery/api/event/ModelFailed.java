package io.modelrefinery.api.event;

/**
 * The data of a {@code model.failed} event.
 *
 * @param jobId deterministic job id (from model name, version and pipeline); {@code null} when the event
 *     could not even be read
 * @param model the model, as far as it is known
 * @param stage where it failed: {@code parse}, {@code resolve}, {@code fetch}, {@code plan}, {@code step:<id>},
 *     {@code gate}, {@code store}
 * @param error one line saying what went wrong
 * @param retriable whether the same event could succeed later (the host retried it already)
 * @param report for stage {@code gate}: the report of the rejected result (its output is not stored, so
 *     {@code output.uri} is {@code null}); {@code null} otherwise
 */
public record ModelFailed(String jobId, ModelRef model, String stage, String error, boolean retriable,
                          JobReport report) {
    /** A failure without a report: every stage but {@code gate}. */
    public ModelFailed(String jobId, ModelRef model, String stage, String error, boolean retriable) {
        this(jobId, model, stage, error, retriable, null);
    }
}
