package io.modelrefinery.api.plugin;

import java.nio.file.Path;
import java.util.Objects;

/** A model file in a format other than ONNX, read by a converter. The file must not be changed. */
public record FileArtifact(Path path, ModelFormat format) implements ModelArtifact {
    public FileArtifact {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(format, "format");
    }
}
