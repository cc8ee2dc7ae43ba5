package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.plugin.TransformDescriptor;

/** Follows a job's steps: the terminal, {@code GET /jobs/{id}} and metrics listen. Called on the job's thread. */
public interface JobListener {

    default void stepStarted(int index, int count, TransformDescriptor descriptor) {
    }

    default void stepProgress(int index, long done, long total, String what) {
    }

    default void stepFinished(int index, StepRecord record) {
    }

    /** The step ended with {@code error}; the job ends too. */
    default void stepFailed(int index, RuntimeException error) {
    }

    /** A listener that ignores everything. */
    static JobListener none() {
        return new JobListener() {
        };
    }
}
