package io.modelrefinery.api.plugin;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A model file format, named as events and the CLI name it ({@code onnx}, {@code keras}, {@code tflite}).
 * A record rather than an enum so that plugins can add formats.
 */
public record ModelFormat(String id) {
    private static final Pattern ID = Pattern.compile("[a-z][a-z0-9-]*");

    public static final ModelFormat ONNX = new ModelFormat("onnx");
    public static final ModelFormat KERAS = new ModelFormat("keras");
    public static final ModelFormat TFLITE = new ModelFormat("tflite");

    public ModelFormat {
        Objects.requireNonNull(id, "id");
        if (!ID.matcher(id).matches()) {
            throw new IllegalArgumentException("format id must be lowercase letters, digits and dashes: '" + id + "'");
        }
    }

    @Override
    public String toString() {
        return id;
    }
}
