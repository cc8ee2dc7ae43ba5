package io.modelrefinery.api.plugin;

/**
 * The datasets a job may come with. A transform that cannot work without one declares it with
 * {@link TransformDescriptor.Builder#requires(DataRole...)}; the host then refuses a job lacking it
 * before any step runs, instead of failing midway; the transform reads it with
 * {@link TransformContext#requireData(DataRole)} (or {@link TransformContext#data(DataRole)} when optional).
 */
public enum DataRole {
    /** Representative inputs, for calibration: {@link TransformContext#calibrationData()}. */
    CALIBRATION("calibration"),
    /** Labelled inputs the result is scored on: {@link TransformContext#evaluationData()}. */
    EVALUATION("evaluation"),
    /** Labelled inputs to train or fine-tune on: {@link TransformContext#trainingData()}. */
    TRAINING("training");

    private final String label;

    DataRole(String label) {
        this.label = label;
    }

    /** Lowercase name, as in messages and {@code refinery plugins}. */
    public String label() {
        return label;
    }
}
