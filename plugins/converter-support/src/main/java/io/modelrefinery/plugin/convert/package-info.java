/**
 * What the Keras and TensorFlow Lite converters share: building ONNX graphs from channels-last operations
 * and rearranging constant tensors. Embedded privately in each converter bundle.
 */
package io.modelrefinery.plugin.convert;
