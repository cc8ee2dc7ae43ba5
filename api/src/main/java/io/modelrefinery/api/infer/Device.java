package io.modelrefinery.api.infer;

import java.util.Locale;

/** Where ONNX Runtime executes a session. */
public enum Device {
    CPU,
    /** ONNX Runtime's CUDA execution provider on an NVIDIA GPU. */
    CUDA;

    /** Lowercase, as reports and the CLI write it. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }
}
