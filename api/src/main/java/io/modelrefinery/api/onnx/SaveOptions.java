package io.modelrefinery.api.onnx;

import java.util.Objects;

/**
 * Where {@link OnnxModel#save(java.nio.file.Path, SaveOptions)} puts tensor data: inside the .onnx file,
 * or large tensors in one side file next to it (ONNX external data, needed above protobuf's 2 GiB limit).
 *
 * @param mode what to do
 * @param location side file name relative to the model's folder; {@code null} means {@code <model file>.data}
 * @param thresholdBytes tensors at least this large go to the side file in {@link Mode#EXTERNAL}
 */
public record SaveOptions(Mode mode, String location, long thresholdBytes) {

    /** How tensor data is placed. */
    public enum Mode {
        /** External when the model was loaded with external data or is too large for one file, else inline. */
        AUTO,
        /** Everything in the .onnx file; refused above 2 GiB. */
        INLINE,
        /** Tensors of at least {@code thresholdBytes} in the side file. */
        EXTERNAL
    }

    /** Same threshold as the ONNX Python tools' default. */
    public static final long DEFAULT_THRESHOLD_BYTES = 1024;

    public SaveOptions {
        Objects.requireNonNull(mode, "mode");
        if (thresholdBytes < 0) {
            throw new IllegalArgumentException("thresholdBytes must not be negative: " + thresholdBytes);
        }
    }

    public static SaveOptions auto() {
        return new SaveOptions(Mode.AUTO, null, DEFAULT_THRESHOLD_BYTES);
    }

    public static SaveOptions inline() {
        return new SaveOptions(Mode.INLINE, null, DEFAULT_THRESHOLD_BYTES);
    }

    public static SaveOptions external() {
        return new SaveOptions(Mode.EXTERNAL, null, DEFAULT_THRESHOLD_BYTES);
    }

    public SaveOptions withLocation(String sideFile) {
        return new SaveOptions(mode, sideFile, thresholdBytes);
    }

    public SaveOptions withThreshold(long bytes) {
        return new SaveOptions(mode, location, bytes);
    }
}
