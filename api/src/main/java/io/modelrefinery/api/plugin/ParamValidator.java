package io.modelrefinery.api.plugin;

import java.util.Collection;
import java.util.List;
import java.util.Locale;
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

    private static <N extends Number> ParamValidator<N> range(double min, boolean minClosed, double max,
                                                              boolean maxClosed) {
        return new ParamValidator<>() {
            @Override
            public String problem(N value) {
                double v = value.doubleValue();
                boolean ok = (minClosed ? v >= min : v > min) && (maxClosed ? v <= max : v < max);
                return ok ? null : "be in " + describe();
            }

            @Override
            public String describe() {
                return (minClosed ? "[" : "(") + format(min) + ", " + format(max) + (maxClosed ? "]" : ")");
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

    private static String format(double v) {
        if (Double.isInfinite(v)) {
            return v > 0 ? "inf" : "-inf";
        }
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : String.format(Locale.ROOT, "%s", v);
    }
}
