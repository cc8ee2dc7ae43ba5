package io.modelrefinery.api.train;

import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * How {@link TrainingGraph#build} turns an inference model into a training graph.
 *
 * @param output the model output the loss reads; {@code null} for the first graph output
 * @param batchNorm how BatchNormalization nodes normalize while training
 * @param frozen initializers kept constant (not trained)
 * @param inputGradients graph inputs whose gradients are computed as well (for checks and saliency)
 */
public record TrainingOptions(String output, BatchNormMode batchNorm, Set<String> frozen, List<String> inputGradients) {

    /** How BatchNormalization behaves in the training graph. */
    public enum BatchNormMode {
        /** Batch statistics normalize, running statistics are updated after each step (PyTorch's train()). */
        BATCH,
        /** Running statistics normalize, as in inference; only scale and bias train (a frozen, foldable layer). */
        FOLDED
    }

    public TrainingOptions {
        Objects.requireNonNull(batchNorm, "batchNorm");
        frozen = Set.copyOf(frozen);
        inputGradients = List.copyOf(inputGradients);
    }

    /** The first output, batch statistics, every float initializer trained. */
    public static TrainingOptions defaults() {
        return new TrainingOptions(null, BatchNormMode.BATCH, Set.of(), List.of());
    }

    public TrainingOptions withOutput(String name) {
        return new TrainingOptions(name, batchNorm, frozen, inputGradients);
    }

    public TrainingOptions withBatchNorm(BatchNormMode mode) {
        return new TrainingOptions(output, mode, frozen, inputGradients);
    }

    public TrainingOptions withFrozen(Set<String> names) {
        return new TrainingOptions(output, batchNorm, names, inputGradients);
    }

    public TrainingOptions withInputGradients(List<String> names) {
        return new TrainingOptions(output, batchNorm, frozen, names);
    }
}
