/** The {@code opset} transform: ONNX operator set conversion, up and down. */
package io.modelrefinery.plugin.opset;
