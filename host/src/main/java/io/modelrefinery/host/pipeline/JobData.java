package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.data.Dataset;

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
}
