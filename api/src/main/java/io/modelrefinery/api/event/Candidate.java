package io.modelrefinery.api.event;

/**
 * One recipe the {@code auto} pipeline tried, as the report's {@code candidates} lists them.
 *
 * @param pipeline the recipe, canonical pipeline form
 * @param outcome {@code chosen}, {@code passed} (passed the gates, not chosen), {@code rejected} (failed a
 *     gate), {@code failed} (a step failed) or {@code skipped} (not applicable: a transform or a dataset is missing)
 * @param bytes size of the candidate model file, or 0 when there is none
 * @param gzipBytes its zipped size, or 0 when there is none
 * @param evaluation its numbers against the original and its gate results, or {@code null}
 * @param reason why it was chosen, rejected, failed or skipped, in one line
 */
public record Candidate(String pipeline, String outcome, long bytes, long gzipBytes, Evaluation evaluation,
                        String reason) {
}
