package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.Progress;
import io.modelrefinery.api.plugin.StatisticsCache;
import io.modelrefinery.api.plugin.TransformContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.Optional;

/** The {@link TransformContext} of one step of one job. */
final class StepContext implements TransformContext {
    private final JobEnvironment environment;
    private final Progress progress;
    private final Path scratchDirectory;
    private final Logger logger;
    private final Cancellation cancellation;
    private final StatisticsCache statistics;

    /** @param cancellation the job's cancellation, and the step's time limit */
    StepContext(JobEnvironment environment, String transformId, Progress progress, Path scratchDirectory,
                Cancellation cancellation) {
        this.environment = environment;
        this.cancellation = cancellation;
        this.progress = progress;
        this.scratchDirectory = scratchDirectory;
        this.logger = LoggerFactory.getLogger("io.modelrefinery.transform." + transformId);
        this.statistics = environment.statistics().forTransform(transformId);
    }

    @Override
    public InferenceService inference() {
        return environment.inference();
    }

    @Override
    public Optional<Dataset> data(DataRole role) {
        return environment.data().get(role);
    }

    @Override
    public Optional<Dataset> calibrationData() {
        return data(DataRole.CALIBRATION);
    }

    @Override
    public Optional<Dataset> evaluationData() {
        return data(DataRole.EVALUATION);
    }

    @Override
    public Optional<Dataset> trainingData() {
        return data(DataRole.TRAINING);
    }

    @Override
    public StatisticsCache statistics() {
        return statistics;
    }

    @Override
    public Progress progress() {
        return progress;
    }

    @Override
    public Cancellation cancellation() {
        return cancellation;
    }

    @Override
    public Path scratchDirectory() {
        return scratchDirectory;
    }

    @Override
    public Logger logger() {
        return logger;
    }
}
