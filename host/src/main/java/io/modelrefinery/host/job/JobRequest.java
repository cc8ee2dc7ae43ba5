package io.modelrefinery.host.job;

import io.modelrefinery.api.event.ModelRef;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.host.eval.QualityGates;
import io.modelrefinery.host.pipeline.PipelineSpec;

import java.nio.file.Path;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * One model to optimize, with everything the job needs locally.
 *
 * @param jobId deterministic id, see {@link io.modelrefinery.host.pipeline.JobIds}
 * @param model the registered model
 * @param inputUri where the model came from, as the report shows it
 * @param modelFile the model file on local disk
 * @param format its format; {@code null} to infer it from the file
 * @param pipeline what to do
 * @param data the samples' files by role; a role without samples is missing
 * @param gates quality gates from the configuration; gates the pipeline sets override them one by one
 */
public record JobRequest(String jobId, ModelRef model, String inputUri, Path modelFile, ModelFormat format,
                         PipelineSpec pipeline, Map<DataRole, Path> data, QualityGates gates) {
    public JobRequest {
        Objects.requireNonNull(jobId, "jobId");
        Map<DataRole, Path> given = new EnumMap<>(DataRole.class);
        (data == null ? Map.<DataRole, Path>of() : data).forEach((role, file) -> {
            if (file != null) {
                given.put(role, file);
            }
        });
        data = Collections.unmodifiableMap(given);
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(inputUri, "inputUri");
        Objects.requireNonNull(modelFile, "modelFile");
        Objects.requireNonNull(pipeline, "pipeline");
        gates = gates == null ? QualityGates.none() : gates;
    }

    /** A request with calibration, evaluation and training files, each {@code null} when absent. */
    public JobRequest(String jobId, ModelRef model, String inputUri, Path modelFile, ModelFormat format,
                      PipelineSpec pipeline, Path calibration, Path evaluation, Path training, QualityGates gates) {
        this(jobId, model, inputUri, modelFile, format, pipeline, files(calibration, evaluation, training), gates);
    }

    /** The file of the samples in {@code role}, if the job has them. */
    public Optional<Path> data(DataRole role) {
        return Optional.ofNullable(data.get(role));
    }

    private static Map<DataRole, Path> files(Path calibration, Path evaluation, Path training) {
        Map<DataRole, Path> out = new EnumMap<>(DataRole.class);
        out.put(DataRole.CALIBRATION, calibration);
        out.put(DataRole.EVALUATION, evaluation);
        out.put(DataRole.TRAINING, training);
        return out;
    }
}
