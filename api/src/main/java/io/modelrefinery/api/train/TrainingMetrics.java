package io.modelrefinery.api.train;

import io.modelrefinery.api.plugin.Progress;
import io.modelrefinery.api.plugin.TransformResult;

import java.util.Locale;
import java.util.Map;

/**
 * How transforms that train report it, the same way in every plugin: a {@link Trainer.Listener} for the
 * progress line (each step) and milestones (each epoch), and the step metrics of the report, which the
 * host also exports to Prometheus.
 */
public final class TrainingMetrics {
    /** Training throughput over the run: forward, backward and optimizer step. */
    public static final String SAMPLES_PER_SECOND = "train-samples-per-second";
    /** Optimizer steps taken. */
    public static final String STEPS = "train-steps";
    /** Epochs run. */
    public static final String EPOCHS = "train-epochs";

    private TrainingMetrics() {
    }

    /** Metric name of an epoch's mean loss: {@code epoch-N-loss}. */
    public static String epochLoss(int epoch) {
        return "epoch-" + epoch + "-loss";
    }

    /** Metric name of an epoch's accuracy on the training data: {@code epoch-N-accuracy}, a share. */
    public static String epochAccuracy(int epoch) {
        return "epoch-" + epoch + "-accuracy";
    }

    /**
     * Reports each step on {@code progress} ("training epoch 1/2, loss 0.1234", counted in steps out of
     * {@code epochs * stepsPerEpoch}) and each finished epoch as a milestone.
     */
    public static Trainer.Listener progress(Progress progress, int epochs, long stepsPerEpoch) {
        long total = epochs * stepsPerEpoch;
        return new Trainer.Listener() {
            @Override
            public void afterStep(Trainer.Step step, Map<String, float[]> parameters) {
                progress.update(step.step(), total, String.format(Locale.ROOT, "training epoch %d/%d, loss %.4f",
                        step.epoch(), epochs, step.loss()));
            }

            @Override
            public void afterEpoch(Trainer.EpochStats stats) {
                progress.milestone(stats.toString());
            }
        };
    }

    /** {@code result} with the training run's metrics: throughput, steps, epochs, each epoch's loss and accuracy. */
    public static TransformResult addTo(TransformResult result, Trainer.Result training) {
        TransformResult out = result.withMetric(SAMPLES_PER_SECOND, training.samplesPerSecond())
                .withMetric(STEPS, training.steps())
                .withMetric(EPOCHS, training.epochs().size());
        for (Trainer.EpochStats s : training.epochs()) {
            out = out.withMetric(epochLoss(s.epoch()), s.loss());
            if (!Double.isNaN(s.accuracy())) {
                out = out.withMetric(epochAccuracy(s.epoch()), s.accuracy());
            }
        }
        return out;
    }
}
