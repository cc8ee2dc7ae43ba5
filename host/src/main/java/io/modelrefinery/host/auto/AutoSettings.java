package io.modelrefinery.host.auto;

import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.Params;

import java.util.List;

/**
 * The parameters of {@code auto(...)} besides its gates.
 *
 * @param objective what to minimize
 * @param fallback whether a recipe with a layer fallback (static quantization) that fails a quality gate
 *     is retried with its most sensitive layers left in float
 * @param memory whether the search starts from the recipe that won for the model's previous version, when
 *     the host keeps a recipe memory
 */
public record AutoSettings(Objective objective, boolean fallback, boolean memory) {
    public static final ParamSpec<Objective> OBJECTIVE = ParamSpec.choice("objective", Objective.class)
            .defaultValue(Objective.SIZE).doc("What to minimize among the candidates that pass the gates.").build();
    public static final ParamSpec<Boolean> FALLBACK = ParamSpec.bool("fallback").defaultValue(true)
            .doc("Retry a static quantization (a recipe with a layer fallback) that fails a quality gate with its "
                    + "most sensitive layers in float.")
            .build();

    public static final ParamSpec<Boolean> MEMORY = ParamSpec.bool("memory").defaultValue(true)
            .doc("Try first the recipe that won for the model's previous version (with its calibration statistics), "
                    + "and stop there when it passes the gates; the host remembers under serve --data-dir or "
                    + "optimize --state.")
            .build();

    /** Every parameter of {@code auto} besides the gates. */
    public static final List<ParamSpec<?>> PARAMS = List.of(OBJECTIVE, FALLBACK, MEMORY);

    /** Settings without recipe memory's say (it applies by default). */
    public AutoSettings(Objective objective, boolean fallback) {
        this(objective, fallback, MEMORY.defaultValue());
    }

    /** The settings in {@code params}, parsed against a descriptor that declares {@link #PARAMS}. */
    public static AutoSettings of(Params params) {
        return new AutoSettings(params.get(OBJECTIVE), params.get(FALLBACK), params.get(MEMORY));
    }

    public static AutoSettings defaults() {
        return new AutoSettings(OBJECTIVE.defaultValue(), FALLBACK.defaultValue(), MEMORY.defaultValue());
    }
}
