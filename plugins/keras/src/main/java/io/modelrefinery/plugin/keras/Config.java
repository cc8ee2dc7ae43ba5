package io.modelrefinery.plugin.keras;

import io.modelrefinery.api.InvalidInputException;

import java.util.List;
import java.util.Map;

/**
 * Typed access to one JSON object of a Keras configuration. A missing or mistyped field is bad input,
 * reported with {@code where} (the layer it belongs to).
 */
record Config(Map<String, Object> map, String where) {

    static Config of(Object json, String where) {
        if (!(json instanceof Map)) {
            throw new InvalidInputException(where + " is not a JSON object");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> map = (Map<String, Object>) json;
        return new Config(map, where);
    }

    boolean has(String key) {
        return map.get(key) != null;
    }

    Object raw(String key) {
        return map.get(key);
    }

    String string(String key) {
        Object v = require(key);
        if (!(v instanceof String)) {
            throw mistyped(key, "a string", v);
        }
        return (String) v;
    }

    String string(String key, String defaultValue) {
        return has(key) ? string(key) : defaultValue;
    }

    double number(String key, double defaultValue) {
        Object v = map.get(key);
        if (v == null) {
            return defaultValue;
        }
        if (!(v instanceof Number)) {
            throw mistyped(key, "a number", v);
        }
        return ((Number) v).doubleValue();
    }

    int integer(String key, int defaultValue) {
        Object v = map.get(key);
        if (v == null) {
            return defaultValue;
        }
        if (!(v instanceof Long)) {
            throw mistyped(key, "an integer", v);
        }
        return Math.toIntExact((Long) v);
    }

    boolean bool(String key, boolean defaultValue) {
        Object v = map.get(key);
        if (v == null) {
            return defaultValue;
        }
        if (!(v instanceof Boolean)) {
            throw mistyped(key, "true or false", v);
        }
        return (Boolean) v;
    }

    /** An integer list, or one integer meaning {@code count} copies of it (Keras accepts both). */
    int[] ints(String key, int count) {
        Object v = require(key);
        if (v instanceof Long) {
            int[] out = new int[count];
            java.util.Arrays.fill(out, Math.toIntExact((Long) v));
            return out;
        }
        List<Object> list = list(key);
        if (list.size() != count) {
            throw new InvalidInputException(where + ": '" + key + "' has " + list.size() + " values, expected " + count);
        }
        int[] out = new int[count];
        for (int i = 0; i < count; i++) {
            if (!(list.get(i) instanceof Long)) {
                throw mistyped(key, "a list of integers", v);
            }
            out[i] = Math.toIntExact((Long) list.get(i));
        }
        return out;
    }

    /** A shape: integers, with null (unknown) as -1. */
    long[] shape(String key) {
        List<Object> list = list(key);
        long[] out = new long[list.size()];
        for (int i = 0; i < out.length; i++) {
            Object d = list.get(i);
            if (d != null && !(d instanceof Long)) {
                throw mistyped(key, "a shape", list);
            }
            out[i] = d == null ? -1 : (Long) d;
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    List<Object> list(String key) {
        Object v = require(key);
        if (!(v instanceof List)) {
            throw mistyped(key, "a list", v);
        }
        return (List<Object>) v;
    }

    Config object(String key) {
        return Config.of(require(key), where + " field '" + key + "'");
    }

    private Object require(String key) {
        Object v = map.get(key);
        if (v == null) {
            throw new InvalidInputException(where + " has no '" + key + "'");
        }
        return v;
    }

    private InvalidInputException mistyped(String key, String expected, Object actual) {
        String text = String.valueOf(actual);
        return new InvalidInputException(where + ": '" + key + "' should be " + expected + ", is "
                + (text.length() > 60 ? text.substring(0, 60) + "..." : text));
    }
}
