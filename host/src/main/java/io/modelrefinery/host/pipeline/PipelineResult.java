package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.plugin.ModelArtifact;

import java.util.List;

/**
 * The outcome of a pipeline run.
 *
 * @param output the final model
 * @param steps what each step did, in order
 */
public record PipelineResult(ModelArtifact output, List<StepRecord> steps) {
    public PipelineResult {
        steps = List.copyOf(steps);
    }
}
