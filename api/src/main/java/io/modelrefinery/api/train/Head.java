package io.modelrefinery.api.train;

/** What the trained output predicts, which decides targets and accuracy. */
public enum Head {
    /** Independent yes/no per element: a Sigmoid output or one logit per sample; predicted 1 where the logit is at least 0. */
    BINARY,
    /** One class per sample: a Softmax or LogSoftmax output, or logits; predicted class is the arg max. */
    MULTICLASS
}
