package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.event.Candidate;
import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.plugin.TransformDescriptor;

/**
 * Follows a job's steps, its evaluation and the candidates of {@code auto}: the terminal,
 * {@code GET /jobs/{id}} and metrics listen. Called on the job's threads; implementations synchronize.
 */
public interface JobListener {

    default void stepStarted(int index, int count, TransformDescriptor descriptor) {
    }

    default void stepProgress(int index, long done, long total, String what) {
    }

    /** A milestone of the step (a finished training epoch): a line of its own, never throttled. */
    default void stepMilestone(int index, String what) {
        stepProgress(index, 0, 0, what);
    }

    default void stepFinished(int index, StepRecord record) {
    }

    /** The step ended with {@code error}; the job ends too. */
    default void stepFailed(int index, RuntimeException error) {
    }

    /** The result is being compared with the original on evaluation samples. */
    default void evaluationStarted() {
    }

    default void evaluationProgress(long done, long total, String what) {
    }

    default void evaluationFinished(Evaluation evaluation) {
    }

    /**
     * The {@code auto} pipeline starts transforming {@code pipeline}: candidates are reported finished only
     * once the ones transformed with them are scored, which can be minutes later.
     */
    default void candidateStarted(String pipeline) {
    }

    /** The {@code auto} pipeline finished trying {@code candidate}, the {@code done}th of {@code total}. */
    default void candidateFinished(int done, int total, Candidate candidate) {
    }

    /** A listener that ignores everything. */
    static JobListener none() {
        return new JobListener() {
        };
    }
}
