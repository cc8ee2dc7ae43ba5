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

    /**
     * The job's samples in {@code role}, if it brought them: one method for every role, so that a new role
     * needs no new method. Hosts before 1.5 answer through the three methods above.
     *
     * @since 1.5
     */
    default Optional<Dataset> data(DataRole role) {
        return switch (role) {
            case CALIBRATION -> calibrationData();
            case EVALUATION -> evaluationData();
            case TRAINING -> trainingData();
        };
    }

    /**
     * The job's samples in {@code role}, which the descriptor requires (with {@code requires} or
     * {@code requiresWhen}): the host refuses a job without them before any step runs, so their absence
     * here is the host's error, not the user's.
     *
     * @throws IllegalStateException if the host ran the step without them
     * @since 1.5
     */
    default Dataset requireData(DataRole role) {
        return data(role).orElseThrow(() -> new IllegalStateException("the host ran this step without the "
                + role.label() + " samples its descriptor requires"));
    }

    /**
     * Where to keep statistics computed from the job's samples, so that another step (another candidate of
     * {@code auto}, a later version of the model) that needs the same ones reads them instead of computing
     * them again. Hosts before 1.6 keep nothing.
     *
     * @since 1.6
     */
    default StatisticsCache statistics() {
        return StatisticsCache.none();
    }

    /** Where to report progress on long work. */
    Progress progress();

    /** Whether the job was cancelled; check it between units of work. */
    Cancellation cancellation();

    /** An empty folder for this step's temporary files, deleted by the host afterwards. */
    Path scratchDirectory();

    /** A logger whose lines carry the job and step. */
    Logger logger();
}
