package io.modelrefinery.host.job;

import io.modelrefinery.api.event.ModelRef;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.host.eval.QualityGates;
import io.modelrefinery.host.pipeline.PipelineSpec;

import java.nio.file.Path;
import java.util.Objects;

/**
 * One model to optimize, with everything the job needs locally.
 *
 * @param jobId deterministic id, see {@link io.modelrefinery.host.pipeline.JobIds}
 * @param model the registered model
 * @param inputUri where the model came from, as the report shows it
 * @param modelFile the model file on local disk
 * @param format its format; {@code null} to infer it from the file
 * @param pipeline what to do
 * @param calibration calibration samples, or {@code null}
 * @param evaluation evaluation samples, or {@code null}
 * @param training training samples, or {@code null}
 * @param gates quality gates from the configuration; gates the pipeline sets override them one by one
 */
public record JobRequest(String jobId, ModelRef model, String inputUri, Path modelFile, ModelFormat format,
                         PipelineSpec pipeline, Path calibration, Path evaluation, Path training, QualityGates gates) {
    public JobRequest {
        Objects.requireNonNull(jobId, "jobId");
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(inputUri, "inputUri");
        Objects.requireNonNull(modelFile, "modelFile");
        Objects.requireNonNull(pipeline, "pipeline");
        gates = gates == null ? QualityGates.none() : gates;
    }
}
