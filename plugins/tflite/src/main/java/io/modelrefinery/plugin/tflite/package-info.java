/** The {@code tflite-to-onnx} transform: TensorFlow Lite models, float and int8, to ONNX. */
package io.modelrefinery.plugin.tflite;
