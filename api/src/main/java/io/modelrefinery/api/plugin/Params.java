package io.modelrefinery.api.plugin;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The validated parameter values of one pipeline step: every parameter of the transform's descriptor,
 * set or defaulted. Created by the host before any work starts; read with the transform's own
 * {@link ParamSpec} constants.
 */
public final class Params {
    private final String transformId;
    private final Map<String, Object> values;
    private final List<ParamSpec<?>> specs;
    private final List<String> warnings;

    private Params(String transformId, List<ParamSpec<?>> specs, Map<String, Object> values, List<String> warnings) {
        this.transformId = transformId;
        this.specs = specs;
        this.values = values;
        this.warnings = List.copyOf(warnings);
    }

    /**
     * Parses the values written in a pipeline for {@code descriptor}'s parameters. Every problem is
     * reported at once, as Kafka Connect's {@code ConfigDef.validateAll} does: unknown names, missing
     * and refused values, one line each; the rules over several parameters ({@link
     * TransformDescriptor#checks()}) run when each value is valid alone.
     *
     * @throws InvalidParamException for unknown names, missing required parameters or refused values,
     *     with {@link InvalidParamException#problems()} listing each
     */
    public static Params parse(TransformDescriptor descriptor, Map<String, String> raw) {
        List<ParamSpec<?>> specs = descriptor.params();
        List<String> problems = new ArrayList<>();
        List<String> warnings = new ArrayList<>();
        Map<String, String> byName = new LinkedHashMap<>();
        for (Map.Entry<String, String> entry : raw.entrySet()) {
            String name = entry.getKey();
            Optional<ParamSpec<?>> spec = descriptor.paramOrAlias(name);
            if (spec.isEmpty()) {
                problems.add("unknown parameter '" + name + "' for '" + descriptor.id() + "'"
                        + (specs.isEmpty() ? ", which takes none" : " (known: " + ParamSpec.joinNames(specs) + ")"));
                continue;
            }
            String current = spec.get().name();
            if (!current.equals(name)) {
                if (raw.containsKey(current)) {
                    problems.add("parameters '" + name + "' and '" + current + "' of '" + descriptor.id()
                            + "' are the same, under its former and its current name: give only '" + current + "'");
                    continue;
                }
                warnings.add("parameter '" + name + "' of '" + descriptor.id() + "' is deprecated: write '" + current
                        + "' (the old name goes in the next minor version)");
            }
            byName.put(current, entry.getValue());
        }
        Map<String, Object> values = new LinkedHashMap<>();
        for (ParamSpec<?> spec : specs) {
            String given = byName.get(spec.name());
            if (given != null) {
                try {
                    values.put(spec.name(), spec.parse(given, descriptor.id()));
                } catch (InvalidParamException e) {
                    problems.addAll(e.problems());
                }
            } else if (spec.required()) {
                problems.add("missing parameter '" + spec.name() + "' for '" + descriptor.id() + "': "
                        + spec.documentation());
            } else {
                values.put(spec.name(), spec.defaultValue());
            }
        }
        if (values.size() < specs.size()) {
            throw new InvalidParamException(problems);
        }
        Params params = new Params(descriptor.id(), specs, Collections.unmodifiableMap(values), warnings);
        for (TransformDescriptor.ParamsCheck check : descriptor.checks()) {
            check.problem(params).ifPresent(problem -> problems.add("invalid parameters for '" + descriptor.id()
                    + "': " + problem));
        }
        if (!problems.isEmpty()) {
            throw new InvalidParamException(problems);
        }
        return params;
    }

    /** All defaults of {@code descriptor}; fails if it has required parameters. */
    public static Params defaults(TransformDescriptor descriptor) {
        return parse(descriptor, Map.of());
    }

    /**
     * What the host adds to the step's notes about how the parameters were written: a deprecated name
     * used, for example.
     *
     * @since 1.5
     */
    public List<String> warnings() {
        return warnings;
    }

    /**
     * The value of {@code spec}, empty when it is {@link ParamSpec#optional()} and not set.
     *
     * @since 1.5
     */
    public <T> Optional<T> find(ParamSpec<T> spec) {
        return Optional.ofNullable(get(spec));
    }

    /** The value of {@code spec}, one of this transform's parameters; {@code null} for an optional one not set. */
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
