package io.modelrefinery.api.plugin;

import io.modelrefinery.api.onnx.OnnxModel;

import java.nio.file.Path;

/**
 * A model flowing through a pipeline: an in-memory ONNX model, or a file in another format (Keras,
 * TensorFlow Lite) that a converter reads.
 */
public sealed interface ModelArtifact permits OnnxArtifact, FileArtifact {

    ModelFormat format();

    static OnnxArtifact onnx(OnnxModel model) {
        return new OnnxArtifact(model);
    }

    static FileArtifact file(Path path, ModelFormat format) {
        return new FileArtifact(path, format);
    }

    /**
     * The ONNX model of this artifact.
     *
     * @throws IllegalStateException if it is a file of another format
     */
    default OnnxModel onnxModel() {
        if (this instanceof OnnxArtifact) {
            return ((OnnxArtifact) this).model();
        }
        throw new IllegalStateException("artifact is a " + format() + " file, not an ONNX model");
    }
}
