package io.modelrefinery.api.plugin;

/**
 * What a parameter means to the host, whatever it is called: the host finds parameters by role, never
 * by name. {@link CommonParams} sets the role of the parameters it builds; a parameter of another name
 * that plays a role declares it with {@link ParamSpec.Builder#role}.
 *
 * @since 1.5
 */
public enum ParamRole {
    /**
     * Names of nodes left as they are: a list parameter. {@code auto} leaves a static quantization's most
     * sensitive layers in float through it when a quality gate fails.
     */
    NODE_EXCLUSION(ParamSpec.Type.LIST),
    /** Operator types worked on: a list parameter. */
    OP_TYPES(ParamSpec.Type.LIST),
    /** Operator types left as they are: a list parameter. */
    OP_TYPE_EXCLUSION(ParamSpec.Type.LIST),
    /** Samples per inference run or optimizer step: an integer parameter. */
    BATCH_SIZE(ParamSpec.Type.INT),
    /** At most this many samples are read, 0 for all: an integer parameter. */
    MAX_SAMPLES(ParamSpec.Type.INT),
    /** The seed of random choices: an integer parameter. */
    SEED(ParamSpec.Type.INT),
    /**
     * The ONNX operator set version an ONNX-to-ONNX converter converts to: an integer parameter. The host
     * finds the converter it puts in front of a step whose model is below the step's
     * {@link TransformDescriptor#minimumOpset(Params)} by this role.
     *
     * @since 1.6
     */
    TARGET_OPSET(ParamSpec.Type.INT);

    private final ParamSpec.Type type;

    ParamRole(ParamSpec.Type type) {
        this.type = type;
    }

    /** The type a parameter in this role has, so that the host can set it. */
    public ParamSpec.Type type() {
        return type;
    }
}
