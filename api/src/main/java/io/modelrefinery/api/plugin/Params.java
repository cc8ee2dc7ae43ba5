package io.modelrefinery.api.plugin;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The validated parameter values of one pipeline step: every parameter of the transform's descriptor,
 * set or defaulted. Created by the host before any work starts; read with the transform's own
 * {@link ParamSpec} constants.
 */
public final class Params {
    private final String transformId;
    private final Map<String, Object> values;
    private final List<ParamSpec<?>> specs;

    private Params(String transformId, List<ParamSpec<?>> specs, Map<String, Object> values) {
        this.transformId = transformId;
        this.specs = specs;
        this.values = values;
    }

    /**
     * Parses the values written in a pipeline for {@code descriptor}'s parameters.
     *
     * @throws InvalidParamException for an unknown name, a missing required parameter or a refused value
     */
    public static Params parse(TransformDescriptor descriptor, Map<String, String> raw) {
        List<ParamSpec<?>> specs = descriptor.params();
        for (String name : raw.keySet()) {
            if (descriptor.param(name).isEmpty()) {
                throw new InvalidParamException("unknown parameter '" + name + "' for '" + descriptor.id()
                        + "'" + (specs.isEmpty() ? ", which takes none" : " (known: " + ParamSpec.joinNames(specs) + ")"));
            }
        }
        Map<String, Object> values = new LinkedHashMap<>();
        for (ParamSpec<?> spec : specs) {
            String given = raw.get(spec.name());
            if (given != null) {
                values.put(spec.name(), spec.parse(given, descriptor.id()));
            } else if (spec.required()) {
                throw new InvalidParamException("missing parameter '" + spec.name() + "' for '" + descriptor.id()
                        + "': " + spec.documentation());
            } else {
                values.put(spec.name(), spec.defaultValue());
            }
        }
        Params params = new Params(descriptor.id(), specs, Collections.unmodifiableMap(values));
        for (TransformDescriptor.ParamsCheck check : descriptor.checks()) {
            check.problem(params).ifPresent(problem -> {
                throw new InvalidParamException("invalid parameters for '" + descriptor.id() + "': " + problem);
            });
        }
        return params;
    }

    /** All defaults of {@code descriptor}; fails if it has required parameters. */
    public static Params defaults(TransformDescriptor descriptor) {
        return parse(descriptor, Map.of());
    }

    /** The value of {@code spec}, one of this transform's parameters. */
    public <T> T get(ParamSpec<T> spec) {
        Objects.requireNonNull(spec, "spec");
        if (!values.containsKey(spec.name())) {
            throw new IllegalArgumentException("'" + transformId + "' has no parameter '" + spec.name() + "'");
        }
        @SuppressWarnings("unchecked")
        T value = (T) values.get(spec.name());
        return value;
    }

    /** Every parameter as written to reports: name to number, boolean, string or list, in spec order. */
    public Map<String, Object> rendered() {
        Map<String, Object> out = new LinkedHashMap<>();
        for (ParamSpec<?> spec : specs) {
            out.put(spec.name(), render(spec));
        }
        return Collections.unmodifiableMap(out);
    }

    private <T> Object render(ParamSpec<T> spec) {
        return spec.render(get(spec));
    }

    @Override
    public String toString() {
        return transformId + rendered();
    }
}
