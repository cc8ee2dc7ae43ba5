package io.modelrefinery.api.event;

/**
 * The data of a {@code model.failed} event.
 *
 * @param jobId deterministic job id (from model name, version and pipeline); {@code null} when the event
 *     could not even be read
 * @param model the model, as far as it is known
 * @param stage where it failed: {@code parse}, {@code resolve}, {@code fetch}, {@code plan}, {@code step:<id>},
 *     {@code store}
 * @param error one line saying what went wrong
 * @param retriable whether the same event could succeed later (the host retried it already)
 */
public record ModelFailed(String jobId, ModelRef model, String stage, String error, boolean retriable) {
}
