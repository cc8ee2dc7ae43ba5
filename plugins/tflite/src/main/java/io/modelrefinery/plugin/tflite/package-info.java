/** The {@code tflite-to-onnx} transform: TensorFlow Lite models, float and quantized, to ONNX. */
package io.modelrefinery.plugin.tflite;
