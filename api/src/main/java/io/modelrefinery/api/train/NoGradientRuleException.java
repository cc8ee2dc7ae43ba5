package io.modelrefinery.api.train;

import io.modelrefinery.api.onnx.InvalidModelException;

/** A node between the trained weights and the loss has an operator without a gradient rule. */
public class NoGradientRuleException extends InvalidModelException {
    private static final long serialVersionUID = 1L;

    private final String opType;

    public NoGradientRuleException(String opType, String message) {
        super(message);
        this.opType = opType;
    }

    /** The operator type that has no rule. */
    public String opType() {
        return opType;
    }
}
