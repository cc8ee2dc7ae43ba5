package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.ModelArtifact;

import java.util.List;

/**
 * The outcome of a pipeline run.
 *
 * @param output the final model
 * @param steps what each step did, in order
 * @param reference the model the output is evaluated against: the input when it is ONNX, otherwise the
 *     first ONNX model the pipeline made of it (a converter's output); {@code null} when there is none
 */
public record PipelineResult(ModelArtifact output, List<StepRecord> steps, OnnxModel reference) {
    public PipelineResult {
        steps = List.copyOf(steps);
    }
}
