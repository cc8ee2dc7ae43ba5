package io.modelrefinery.api.plugin;

import io.modelrefinery.api.onnx.OnnxModel;

import java.util.Objects;

/** An ONNX model in memory. */
public record OnnxArtifact(OnnxModel model) implements ModelArtifact {
    public OnnxArtifact {
        Objects.requireNonNull(model, "model");
    }

    @Override
    public ModelFormat format() {
        return ModelFormat.ONNX;
    }
}
