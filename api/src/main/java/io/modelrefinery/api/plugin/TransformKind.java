package io.modelrefinery.api.plugin;

/** What a transform does to a model; the host orders pipeline steps and lists plugins by kind. */
public enum TransformKind {
    /** Changes the model's format (Keras to ONNX) or its format version (ONNX opset). */
    CONVERTER,
    /** Makes the model smaller, usually trading some accuracy: quantization, pruning, fp16. */
    COMPRESSOR,
    /** Makes the model faster without changing what it computes: graph optimization. */
    OPTIMIZER
}
