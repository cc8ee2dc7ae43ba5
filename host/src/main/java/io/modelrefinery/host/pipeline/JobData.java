package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.plugin.DataRole;

import java.util.Optional;

/**
 * The datasets that come with a job: from {@code --calibration}, {@code --eval} and {@code --train},
 * or the event's URIs. Each may be absent.
 */
public final class JobData {
    private static final JobData NONE = new JobData(null, null, null);

    private final Dataset calibration;
    private final Dataset evaluation;
    private final Dataset training;

    public JobData(Dataset calibration, Dataset evaluation, Dataset training) {
        this.calibration = calibration;
        this.evaluation = evaluation;
        this.training = training;
    }

    public static JobData none() {
        return NONE;
    }

    public Optional<Dataset> calibration() {
        return Optional.ofNullable(calibration);
    }

    public Optional<Dataset> evaluation() {
        return Optional.ofNullable(evaluation);
    }

    public Optional<Dataset> training() {
        return Optional.ofNullable(training);
    }

    public boolean has(DataRole role) {
        return switch (role) {
            case CALIBRATION -> calibration != null;
            case EVALUATION -> evaluation != null;
            case TRAINING -> training != null;
        };
    }

    /** The {@code optimize} option that supplies {@code role}. */
    public static String optionFor(DataRole role) {
        return switch (role) {
            case CALIBRATION -> "--calibration";
            case EVALUATION -> "--eval";
            case TRAINING -> "--train";
        };
    }

    /** The {@code model.registered} field that supplies {@code role}. */
    public static String eventFieldFor(DataRole role) {
        return switch (role) {
            case CALIBRATION -> "calibrationUri";
            case EVALUATION -> "evalUri";
            case TRAINING -> "trainUri";
        };
    }
}
