package io.modelrefinery.api.plugin;

import java.util.List;

/**
 * The shared vocabulary of transform parameters: one idea, one name, across plugins. A transform that
 * leaves nodes alone, limits itself to some operator types, reads samples in batches or draws random
 * numbers takes these builders, refines the documentation (and default) to what it does, and builds.
 *
 * <pre>{@code
 * static final ParamSpec<List<String>> EXCLUDE_NODES = CommonParams.excludeNodes()
 *         .doc("Names of nodes left in float32.").build();
 * }</pre>
 *
 * <p>The names follow the convention in the plugin guide: lowercase words joined by dashes, a list named
 * for what it holds ({@code op-types}), an exclusion prefixed {@code exclude-}, counts named
 * {@code max-...}. Parameters built here carry their {@link ParamRole}, so the host can find them by
 * role (auto's per-layer fallback leaves layers in float through the {@link ParamRole#NODE_EXCLUSION}
 * parameter, whatever the transform).
 *
 * @since 1.5
 */
public final class CommonParams {
    /** Names of nodes a transform leaves as they are. */
    public static final String EXCLUDE_NODES = "exclude-nodes";
    /** Operator types a transform works on. */
    public static final String OP_TYPES = "op-types";
    /** Operator types a transform leaves as they are. */
    public static final String EXCLUDE_OP_TYPES = "exclude-op-types";
    /** Samples per inference run or optimizer step. */
    public static final String BATCH_SIZE = "batch-size";
    /** At most this many samples are read; 0 for all. */
    public static final String MAX_SAMPLES = "max-samples";
    /** The seed of every random choice, so that the same seed gives the same model. */
    public static final String SEED = "seed";

    /** ONNX operator type names and node names as a pipeline list can carry them. */
    private static final String OP_TYPE = "[A-Za-z][A-Za-z0-9_]*";
    private static final String NODE_NAME = "[^,\\[\\]()=\\s]+";

    private CommonParams() {
    }

    /** {@code exclude-nodes}: node names (empty by default), role {@link ParamRole#NODE_EXCLUSION}. */
    public static ParamSpec.Builder<List<String>> excludeNodes() {
        return ParamSpec.list(EXCLUDE_NODES).defaultValue(List.of())
                .validator(ParamValidator.eachMatches(NODE_NAME, "node names"))
                .role(ParamRole.NODE_EXCLUSION).doc("Names of nodes left as they are.");
    }

    /** {@code op-types}: operator type names, {@code defaults} unless set, role {@link ParamRole#OP_TYPES}. */
    public static ParamSpec.Builder<List<String>> opTypes(List<String> defaults) {
        return ParamSpec.list(OP_TYPES).defaultValue(List.copyOf(defaults))
                .validator(ParamValidator.eachMatches(OP_TYPE, "operator type names"))
                .role(ParamRole.OP_TYPES).doc("Operator types worked on.");
    }

    /** {@code exclude-op-types}: operator type names (empty by default), role {@link ParamRole#OP_TYPE_EXCLUSION}. */
    public static ParamSpec.Builder<List<String>> excludeOpTypes() {
        return ParamSpec.list(EXCLUDE_OP_TYPES).defaultValue(List.of())
                .validator(ParamValidator.eachMatches(OP_TYPE, "operator type names"))
                .role(ParamRole.OP_TYPE_EXCLUSION).doc("Operator types left as they are.");
    }

    /** {@code batch-size}: samples per run, in [1, 65536], role {@link ParamRole#BATCH_SIZE}. */
    public static ParamSpec.Builder<Integer> batchSize(int defaultValue) {
        return ParamSpec.integer(BATCH_SIZE).defaultValue(defaultValue).validator(ParamValidator.between(1, 65536))
                .role(ParamRole.BATCH_SIZE).doc("Samples per inference run.");
    }

    /** {@code max-samples}: at most this many samples, 0 (the default) for all, role {@link ParamRole#MAX_SAMPLES}. */
    public static ParamSpec.Builder<Integer> maxSamples() {
        return ParamSpec.integer(MAX_SAMPLES).defaultValue(0).validator(ParamValidator.atLeast(0))
                .role(ParamRole.MAX_SAMPLES).doc("Read at most this many samples; 0 for all.");
    }

    /** {@code seed}: the seed of every random choice, 1 by default, role {@link ParamRole#SEED}. */
    public static ParamSpec.Builder<Integer> seed() {
        return ParamSpec.integer(SEED).defaultValue(1).role(ParamRole.SEED)
                .doc("Seed of every random choice: same seed, same model.");
    }
}
