package io.modelrefinery.api.train;

import io.modelrefinery.api.plugin.TransformException;

/**
 * The loss or a gradient became NaN or infinite: training stopped and no model is produced from it.
 * Not retriable: the same data and settings diverge again; a lower learning rate usually helps.
 */
public class TrainingDivergedException extends TransformException {
    private static final long serialVersionUID = 1L;

    public TrainingDivergedException(String message) {
        super(message, false);
    }
}
