package io.modelrefinery.api.plugin;

import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Checks a parsed parameter value before any work starts, and describes the values it accepts for
 * {@code refinery plugins} and {@code GET /plugins}.
 *
 * @param <T> the parameter's Java type
 */
public interface ParamValidator<T> {

    /**
     * Checks a value.
     *
     * @return {@code null} if {@code value} is acceptable, else what it must be, completing "must ...", for
     *     example {@code "be in [0, 1)"}
     */
    String problem(T value);

    /** The accepted values, as documentation, for example {@code [0, 1)}. */
    String describe();

    /**
     * The numeric interval this validator accepts, for tools that probe its edges (the conformance kit)
     * or draw a search space; empty when it checks something else.
     *
     * @since 1.5
     */
    default Optional<Range> range() {
        return Optional.empty();
    }

    /**
     * The only values this validator accepts, as written in a pipeline; empty when it does not list them.
     *
     * @since 1.5
     */
    default List<String> allowedValues() {
        return List.of();
    }

    /**
     * A numeric interval; an infinite end is open.
     *
     * @since 1.5
     */
    record Range(double min, boolean minClosed, double max, boolean maxClosed) {
        public boolean contains(double v) {
            return (minClosed ? v >= min : v > min) && (maxClosed ? v <= max : v < max);
        }

        /** {@code [0, 1)}, {@code (50, 100]}, {@code [1, inf)}. */
        @Override
        public String toString() {
            return (minClosed ? "[" : "(") + format(min) + ", " + format(max) + (maxClosed ? "]" : ")");
        }
    }

    /** Accepts {@code min <= value <= max}. */
    static <N extends Number> ParamValidator<N> between(double min, double max) {
        return range(min, true, max, true);
    }

    /** Accepts {@code min <= value < max}. */
    static <N extends Number> ParamValidator<N> atLeastAndBelow(double min, double max) {
        return range(min, true, max, false);
    }

    /** Accepts {@code value >= min}. */
    static <N extends Number> ParamValidator<N> atLeast(double min) {
        return range(min, true, Double.POSITIVE_INFINITY, false);
    }

    /** Accepts {@code value > min}. */
    static <N extends Number> ParamValidator<N> greaterThan(double min) {
        return range(min, false, Double.POSITIVE_INFINITY, false);
    }

    /**
     * Accepts {@code min < value <= max}, such as a percentile in {@code (50, 100]}.
     *
     * @since 1.5
     */
    static <N extends Number> ParamValidator<N> aboveAndAtMost(double min, double max) {
        return range(min, false, max, true);
    }

    /**
     * Accepts values in {@code range}.
     *
     * @since 1.5
     */
    static <N extends Number> ParamValidator<N> within(Range range) {
        return range(range.min(), range.minClosed(), range.max(), range.maxClosed());
    }

    private static <N extends Number> ParamValidator<N> range(double min, boolean minClosed, double max,
                                                              boolean maxClosed) {
        Range range = new Range(min, minClosed && !Double.isInfinite(min), max, maxClosed && !Double.isInfinite(max));
        return new ParamValidator<>() {
            @Override
            public String problem(N value) {
                return range.contains(value.doubleValue()) ? null : "be in " + describe();
            }

            @Override
            public String describe() {
                return range.toString();
            }

            @Override
            public Optional<Range> range() {
                return Optional.of(range);
            }
        };
    }

    /**
     * Accepts only the strings in {@code values}.
     *
     * @since 1.5
     */
    static ParamValidator<String> oneOf(String... values) {
        List<String> allowed = List.of(values);
        return new ParamValidator<>() {
            @Override
            public String problem(String value) {
                return allowed.contains(value) ? null : "be one of " + describe();
            }

            @Override
            public String describe() {
                return String.join(", ", allowed);
            }

            @Override
            public List<String> allowedValues() {
                return allowed;
            }
        };
    }

    /**
     * Accepts maps, such as {@link ParamSpec#map}'s, whose every value {@code each} accepts; its range
     * and allowed values are the map's.
     *
     * @since 1.5
     */
    static <V> ParamValidator<Map<String, V>> eachValue(ParamValidator<? super V> each) {
        return new ParamValidator<>() {
            @Override
            public String problem(Map<String, V> value) {
                for (Map.Entry<String, V> entry : value.entrySet()) {
                    String problem = each.problem(entry.getValue());
                    if (problem != null) {
                        return "have values that " + problem.replaceFirst("^be ", "are ") + " (" + entry.getKey()
                                + "=" + entry.getValue() + ")";
                    }
                }
                return null;
            }

            @Override
            public String describe() {
                return "NAME=VALUE with VALUE in " + each.describe();
            }

            @Override
            public Optional<Range> range() {
                return each.range();
            }

            @Override
            public List<String> allowedValues() {
                return each.allowedValues();
            }
        };
    }

    /** Accepts lists whose every element matches {@code pattern}, such as ONNX op type names. */
    static ParamValidator<List<String>> eachMatches(String pattern, String description) {
        Pattern compiled = Pattern.compile(pattern);
        return new ParamValidator<>() {
            @Override
            public String problem(List<String> value) {
                for (String element : value) {
                    if (!compiled.matcher(element).matches()) {
                        return "contain only " + description + ", not '" + element + "'";
                    }
                }
                return null;
            }

            @Override
            public String describe() {
                return "list of " + description;
            }
        };
    }

    /** Accepts strings matching {@code pattern}. */
    static ParamValidator<String> matches(String pattern, String description) {
        Pattern compiled = Pattern.compile(pattern);
        return new ParamValidator<>() {
            @Override
            public String problem(String value) {
                return compiled.matcher(value).matches() ? null : "be " + description;
            }

            @Override
            public String describe() {
                return description;
            }
        };
    }

    /** Accepts non-empty strings or collections. */
    static <C> ParamValidator<C> nonEmpty() {
        return new ParamValidator<>() {
            @Override
            public String problem(C value) {
                boolean empty = value instanceof Collection ? ((Collection<?>) value).isEmpty()
                        : value.toString().isEmpty();
                return empty ? "not be empty" : null;
            }

            @Override
            public String describe() {
                return "non-empty";
            }
        };
    }

    /** A bound as users read it: {@code 1}, {@code 0.5}, {@code inf}. */
    private static String format(double v) {
        if (Double.isInfinite(v)) {
            return v > 0 ? "inf" : "-inf";
        }
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : String.format(Locale.ROOT, "%s", v);
    }
}
