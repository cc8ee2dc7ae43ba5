package io.modelrefinery.api.plugin;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * One typed parameter of a transform: name, type, default, validator and documentation, in the spirit
 * of Kafka's {@code ConfigDef}. A spec is also the typed key to read the value:
 * {@code params.get(SPARSITY)} returns a {@code Double}.
 *
 * <pre>{@code
 * static final ParamSpec<Double> SPARSITY = ParamSpec.decimal("sparsity")
 *         .defaultValue(0.5)
 *         .validator(ParamValidator.atLeastAndBelow(0, 1))
 *         .doc("Share of weights set to zero over all pruned layers.")
 *         .build();
 * }</pre>
 *
 * @param <T> the value's Java type
 */
public final class ParamSpec<T> {
    private static final Pattern NAME = Pattern.compile("[a-z][a-z0-9]*(-[a-z0-9]+)*");

    /**
     * The parameter types, as they are shown to users. {@code PARSED} and {@code MAP} are new in 1.5:
     * a value of the plugin's own type read by its own parser, and {@code NAME=VALUE} pairs.
     */
    public enum Type { BOOLEAN, INT, DOUBLE, STRING, LIST, CHOICE, PARSED, MAP }

    private final String name;
    private final Type type;
    private final Function<String, T> parser;
    private final Function<T, Object> renderer;
    private final T defaultValue;
    private final boolean required;
    private final boolean optional;
    private final ParamValidator<? super T> validator;
    private final String documentation;
    private final List<String> choices;
    private final String accepts;
    private final ParamRole role;
    private final List<String> deprecatedAliases;

    private ParamSpec(Builder<T> b) {
        this.name = b.name;
        this.type = b.type;
        this.parser = b.parser;
        this.renderer = b.renderer;
        this.defaultValue = b.defaultValue;
        this.required = b.required;
        this.optional = b.optional;
        this.validator = b.validator;
        this.documentation = b.documentation;
        this.choices = b.choices;
        this.accepts = b.accepts;
        this.role = b.role;
        this.deprecatedAliases = List.copyOf(b.aliases);
    }

    // ---------------------------------------------------------------- builders per type

    public static Builder<Boolean> bool(String name) {
        return new Builder<>(name, Type.BOOLEAN, ParamSpec::parseBoolean, v -> v, List.of());
    }

    public static Builder<Integer> integer(String name) {
        return new Builder<>(name, Type.INT, raw -> Integer.parseInt(raw.trim()), v -> v, List.of());
    }

    public static Builder<Double> decimal(String name) {
        return new Builder<>(name, Type.DOUBLE, ParamSpec::parseFiniteDouble, v -> v, List.of());
    }

    public static Builder<String> string(String name) {
        return new Builder<>(name, Type.STRING, raw -> raw, v -> v, List.of());
    }

    /** A list of strings, written {@code [a,b,c]} in a pipeline (a single value needs no brackets). */
    public static Builder<List<String>> list(String name) {
        return new Builder<>(name, Type.LIST, ParamSpec::parseList, v -> v, List.of());
    }

    /**
     * A value of the plugin's own type, read when the pipeline is validated, so that a value the plugin
     * cannot use is refused before the job is accepted rather than in {@code apply}:
     *
     * <pre>{@code
     * static final ParamSpec<Pattern> PATTERN = ParamSpec.parsed("pattern", Pattern::parse, Pattern::toString)
     *         .accepts("unstructured, channel or N:M such as 2:4")
     *         .defaultValue(Pattern.UNSTRUCTURED).doc("...").build();
     * }</pre>
     *
     * @param parse reads the value as written; an {@link IllegalArgumentException} whose message says
     *     what is wrong refuses it
     * @param render writes the value back as a pipeline would (and reports show it): {@code parse} of
     *     it gives an equal value
     * @since 1.5
     */
    public static <T> Builder<T> parsed(String name, Function<String, T> parse, Function<? super T, String> render) {
        Objects.requireNonNull(parse, "parse");
        Objects.requireNonNull(render, "render");
        return new Builder<>(name, Type.PARSED, raw -> parse.apply(raw.trim()), render::apply, List.of());
    }

    /**
     * {@code NAME=VALUE} pairs, written {@code [a=1,b=2]} (the last {@code =} of each element splits
     * it, so names may contain {@code =}), read into a map in the order written. Values are read by
     * {@code parseValue}; a name given twice is refused. Reports show the map as an object.
     *
     * <pre>{@code
     * static final ParamSpec<Map<String, Double>> LAYER_SPARSITY = ParamSpec.map("layer-sparsity", Double::valueOf)
     *         .validator(ParamValidator.eachValue(ParamValidator.atLeastAndBelow(0, 1)))
     *         .defaultValue(Map.of()).doc("...").build();
     * }</pre>
     *
     * @since 1.5
     */
    public static <V> Builder<Map<String, V>> map(String name, Function<String, V> parseValue) {
        Objects.requireNonNull(parseValue, "parseValue");
        return new Builder<>(name, Type.MAP, raw -> parseMap(raw, parseValue), v -> v, List.of());
    }

    /**
     * One of an enum's constants, written in lowercase with dashes: {@code PER_CHANNEL} is
     * {@code per-channel}.
     */
    public static <E extends Enum<E>> Builder<E> choice(String name, Class<E> type) {
        E[] constants = type.getEnumConstants();
        List<String> names = new ArrayList<>(constants.length);
        for (E constant : constants) {
            names.add(choiceName(constant));
        }
        Function<String, E> parser = raw -> {
            String wanted = raw.trim().toLowerCase(Locale.ROOT).replace('_', '-');
            for (E constant : constants) {
                if (choiceName(constant).equals(wanted)) {
                    return constant;
                }
            }
            throw new IllegalArgumentException("not one of " + names);
        };
        return new Builder<>(name, Type.CHOICE, parser, ParamSpec::choiceName, Collections.unmodifiableList(names));
    }

    /** How a choice constant is written: lowercase, dashes for underscores. */
    public static String choiceName(Enum<?> constant) {
        return constant.name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    // ---------------------------------------------------------------- accessors

    public String name() {
        return name;
    }

    public Type type() {
        return type;
    }

    /** The value used when the pipeline does not set this parameter; {@code null} if there is none. */
    public T defaultValue() {
        return defaultValue;
    }

    /** True if a pipeline must set this parameter. */
    public boolean required() {
        return required;
    }

    /**
     * True if the parameter has no default and is simply absent when not set ({@link Params#find}), such
     * as a quality gate that is off unless set.
     *
     * @since 1.5
     */
    public boolean optional() {
        return optional;
    }

    public String documentation() {
        return documentation;
    }

    /**
     * What the parameter means to the host, if anything ({@link CommonParams}' parameters carry theirs).
     *
     * @since 1.5
     */
    public Optional<ParamRole> role() {
        return Optional.ofNullable(role);
    }

    /**
     * Former names still accepted, with a warning in the step's notes, for one more minor version of
     * the transform.
     *
     * @since 1.5
     */
    public List<String> deprecatedAliases() {
        return deprecatedAliases;
    }

    /** For {@link Type#CHOICE}: the accepted values as written. */
    public List<String> choices() {
        return choices;
    }

    /** The accepted values for documentation: choices, a range, or empty when anything of the type goes. */
    public String validValues() {
        if (type == Type.CHOICE) {
            return String.join(", ", choices);
        }
        if (accepts != null) {
            return accepts;
        }
        return validator == null ? "" : validator.describe();
    }

    /**
     * The numeric interval the validator accepts (for a map, its values'), so that tools need not read
     * {@link #validValues()}; empty when it declares none.
     *
     * @since 1.5
     */
    public Optional<ParamValidator.Range> range() {
        return validator == null ? Optional.empty() : validator.range();
    }

    /**
     * The only values accepted, as written: a choice's names or the validator's list; empty when the
     * parameter does not list them.
     *
     * @since 1.5
     */
    public List<String> allowedValues() {
        if (type == Type.CHOICE) {
            return choices;
        }
        return validator == null ? List.of() : validator.allowedValues();
    }

    /**
     * The value as a pipeline writes it, so that {@link #parse} of the result gives {@code value} back:
     * {@code [a,b]} for lists, {@code [a=1,b=2]} for maps, a choice by name, a parsed value by its renderer.
     *
     * @since 1.5
     */
    public String write(T value) {
        Object rendered = render(value);
        if (rendered instanceof List<?> list) {
            return "[" + String.join(",", list.stream().map(String::valueOf).toList()) + "]";
        }
        if (rendered instanceof Map<?, ?> map) {
            List<String> entries = new ArrayList<>();
            map.forEach((k, v) -> entries.add(k + "=" + v));
            return "[" + String.join(",", entries) + "]";
        }
        return String.valueOf(rendered);
    }

    /** The default as shown to users and written to reports ({@code null} when there is none). */
    public Object renderedDefault() {
        return defaultValue == null ? null : render(defaultValue);
    }

    /**
     * Parses and validates a value written in a pipeline.
     *
     * @param transformId used in the error message
     * @throws InvalidParamException naming the parameter, the value and what is accepted
     */
    public T parse(String raw, String transformId) {
        T value;
        try {
            value = parser.apply(raw);
        } catch (RuntimeException e) {
            if (type == Type.PARSED) {
                // The plugin's parser says what is wrong; the accepted forms follow when it declared them.
                throw new InvalidParamException("invalid value '" + raw + "' for parameter '" + name + "' of '"
                        + transformId + "': " + (e.getMessage() == null ? "cannot be read" : e.getMessage())
                        + (accepts == null ? "" : " (expected " + accepts + ")"));
            }
            throw new InvalidParamException("invalid value '" + raw + "' for parameter '" + name + "' of '"
                    + transformId + "': expected " + expected()
                    + (e.getMessage() == null || type == Type.CHOICE ? "" : " (" + e.getMessage() + ")"));
        }
        validate(value, transformId);
        return value;
    }

    /** Validates a typed value, such as a default or a value set in code. */
    public void validate(T value, String transformId) {
        if (validator == null) {
            return;
        }
        String problem = validator.problem(value);
        if (problem != null) {
            throw new InvalidParamException("invalid value " + render(value) + " for parameter '" + name + "' of '"
                    + transformId + "': must " + problem);
        }
    }

    /** The value as written to reports and JSON: numbers, booleans, strings, lists; choices by name. */
    public Object render(T value) {
        return value == null ? null : renderer.apply(value);
    }

    private String expected() {
        switch (type) {
            case BOOLEAN: return "true or false";
            case INT: return "an integer";
            case DOUBLE: return "a finite number";
            case LIST: return "a list such as [a,b]";
            case CHOICE: return "one of " + String.join(", ", choices);
            case MAP: return "NAME=VALUE pairs such as [a=1,b=2]";
            default: return "a string";
        }
    }

    @Override
    public String toString() {
        return name + " (" + type.name().toLowerCase(Locale.ROOT) + ")";
    }

    private static Boolean parseBoolean(String raw) {
        String v = raw.trim().toLowerCase(Locale.ROOT);
        if (v.equals("true")) {
            return Boolean.TRUE;
        }
        if (v.equals("false")) {
            return Boolean.FALSE;
        }
        throw new IllegalArgumentException("not true or false");
    }

    private static Double parseFiniteDouble(String raw) {
        double v = Double.parseDouble(raw.trim());
        if (!Double.isFinite(v)) {
            throw new IllegalArgumentException("not finite");
        }
        return v;
    }

    private static List<String> parseList(String raw) {
        String v = raw.trim();
        if (v.startsWith("[")) {
            if (!v.endsWith("]")) {
                throw new IllegalArgumentException("missing ']'");
            }
            v = v.substring(1, v.length() - 1).trim();
        }
        if (v.isEmpty()) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        for (String part : v.split(",")) {
            String element = part.trim();
            if (element.isEmpty()) {
                throw new IllegalArgumentException("empty element");
            }
            out.add(element);
        }
        return Collections.unmodifiableList(out);
    }

    private static <V> Map<String, V> parseMap(String raw, Function<String, V> parseValue) {
        Map<String, V> out = new LinkedHashMap<>();
        for (String element : parseList(raw)) {
            int eq = element.lastIndexOf('=');
            if (eq <= 0 || eq == element.length() - 1) {
                throw new IllegalArgumentException("'" + element + "' is not NAME=VALUE");
            }
            String key = element.substring(0, eq).trim();
            String text = element.substring(eq + 1).trim();
            V value;
            try {
                value = Objects.requireNonNull(parseValue.apply(text), "value");
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("cannot read the value of '" + element + "'");
            }
            if (out.put(key, value) != null) {
                throw new IllegalArgumentException("'" + key + "' given twice");
            }
        }
        return Collections.unmodifiableMap(out);
    }

    /**
     * Builds a {@link ParamSpec}; every parameter needs documentation, and either a default or
     * {@link #required()}.
     *
     * @param <T> the value's Java type
     */
    public static final class Builder<T> {
        private final String name;
        private final Type type;
        private final Function<String, T> parser;
        private final Function<T, Object> renderer;
        private final List<String> choices;
        private T defaultValue;
        private boolean required;
        private boolean optional;
        private ParamValidator<? super T> validator;
        private String documentation;
        private String accepts;
        private ParamRole role;
        private final List<String> aliases = new ArrayList<>();

        @SuppressWarnings("unchecked")
        private Builder(String name, Type type, Function<String, T> parser, Function<? super T, Object> renderer,
                        List<String> choices) {
            if (name == null || !NAME.matcher(name).matches()) {
                throw new IllegalArgumentException("parameter name must be lowercase words joined by dashes: '"
                        + name + "'");
            }
            this.name = name;
            this.type = type;
            this.parser = parser;
            this.renderer = (Function<T, Object>) renderer;
            this.choices = choices;
        }

        public Builder<T> defaultValue(T value) {
            this.defaultValue = Objects.requireNonNull(value, "default value");
            return this;
        }

        /** The pipeline must set this parameter; there is no default. */
        public Builder<T> required() {
            this.required = true;
            return this;
        }

        /**
         * The parameter has no default: when the pipeline does not set it, {@link Params#find} is empty.
         *
         * @since 1.5
         */
        public Builder<T> optional() {
            this.optional = true;
            return this;
        }

        public Builder<T> validator(ParamValidator<? super T> check) {
            this.validator = check;
            return this;
        }

        public Builder<T> doc(String text) {
            this.documentation = text;
            return this;
        }

        /**
         * What the parameter means to the host; its type must be the role's.
         *
         * @since 1.5
         */
        public Builder<T> role(ParamRole parameterRole) {
            this.role = Objects.requireNonNull(parameterRole, "role");
            return this;
        }

        /**
         * A former name of this parameter, still accepted in pipelines with a warning in the step's notes
         * (keep it for one minor version of the transform, then drop it).
         *
         * @since 1.5
         */
        public Builder<T> deprecatedAlias(String formerName) {
            if (formerName == null || !NAME.matcher(formerName).matches() || formerName.equals(name)) {
                throw new IllegalArgumentException("a former name of '" + name
                        + "' must be another name of lowercase words joined by dashes: '" + formerName + "'");
            }
            aliases.add(formerName);
            return this;
        }

        /**
         * The accepted values in words, for {@code refinery plugins} and messages, where the validator
         * cannot say them (a {@link #parsed} value): {@code unstructured, channel or N:M such as 2:4}.
         *
         * @since 1.5
         */
        public Builder<T> accepts(String description) {
            this.accepts = description;
            return this;
        }

        public ParamSpec<T> build() {
            if (documentation == null || documentation.isBlank()) {
                throw new IllegalStateException("parameter '" + name + "' needs documentation");
            }
            int settings = (required ? 1 : 0) + (optional ? 1 : 0) + (defaultValue != null ? 1 : 0);
            if (settings != 1) {
                throw new IllegalStateException("parameter '" + name + "' needs exactly one of a default value, "
                        + "required() or optional()");
            }
            if (role != null && role.type() != type) {
                throw new IllegalStateException("parameter '" + name + "' in role " + role + " must be of type "
                        + role.type() + ", not " + type);
            }
            ParamSpec<T> spec = new ParamSpec<>(this);
            if (defaultValue != null) {
                spec.validate(defaultValue, "(default)");
            }
            return spec;
        }
    }

    static String joinNames(List<ParamSpec<?>> specs) {
        String[] names = new String[specs.size()];
        for (int i = 0; i < names.length; i++) {
            names[i] = specs.get(i).name();
        }
        return Arrays.toString(names);
    }
}
