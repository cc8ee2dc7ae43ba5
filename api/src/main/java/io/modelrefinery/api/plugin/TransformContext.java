package io.modelrefinery.api.plugin;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.infer.InferenceService;
import org.slf4j.Logger;

import java.nio.file.Path;
import java.util.Optional;

/**
 * What the host gives a transform for one step of one job. Every method is cheap and may be called
 * any number of times; everything returned is owned by the host and valid until {@code apply} returns.
 */
public interface TransformContext {

    /** Runs ONNX models on the job's device (CPU, or the CUDA provider when there is a GPU). */
    InferenceService inference();

    /** Samples for calibration ({@code --calibration}, or the event's {@code calibrationUri}). */
    Optional<Dataset> calibrationData();

    /** Samples for evaluation ({@code --eval}, or the event's {@code evalUri}). */
    Optional<Dataset> evaluationData();

    /** Samples for training ({@code --train}, or the event's {@code trainUri}). */
    Optional<Dataset> trainingData();

    /** Where to report progress on long work. */
    Progress progress();

    /** Whether the job was cancelled; check it between units of work. */
    Cancellation cancellation();

    /** An empty folder for this step's temporary files, deleted by the host afterwards. */
    Path scratchDirectory();

    /** A logger whose lines carry the job and step. */
    Logger logger();
}
