package io.modelrefinery.testkit;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.Progress;
import io.modelrefinery.api.plugin.TransformContext;
import io.modelrefinery.host.pipeline.JobData;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.Optional;

/** The context a transform gets in the checks: the host's ONNX Runtime service, the case's data, a chosen cancellation. */
final class ConformanceContext implements TransformContext {
    private final InferenceService inference;
    private final JobData data;
    private final Cancellation cancellation;
    private final Path scratch;
    private final Logger logger;

    ConformanceContext(InferenceService inference, JobData data, Cancellation cancellation, Path scratch, String transformId) {
        this.inference = inference;
        this.data = data;
        this.cancellation = cancellation;
        this.scratch = scratch;
        this.logger = LoggerFactory.getLogger("io.modelrefinery.transform." + transformId);
    }

    @Override
    public InferenceService inference() {
        return inference;
    }

    @Override
    public Optional<Dataset> data(DataRole role) {
        return data.get(role);
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
    public Progress progress() {
        return Progress.none();
    }

    @Override
    public Cancellation cancellation() {
        return cancellation;
    }

    @Override
    public Path scratchDirectory() {
        return scratch;
    }

    @Override
    public Logger logger() {
        return logger;
    }
}
