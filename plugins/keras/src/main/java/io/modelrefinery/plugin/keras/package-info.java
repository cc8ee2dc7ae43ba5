/** The {@code keras-to-onnx} transform: Keras models (.h5 and .keras) to ONNX. */
package io.modelrefinery.plugin.keras;
