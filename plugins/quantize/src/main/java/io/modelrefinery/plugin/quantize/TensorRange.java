package io.modelrefinery.plugin.quantize;

/**
 * The range of a tensor's values chosen for quantization.
 *
 * @param min lower end
 * @param max upper end
 */
record TensorRange(double min, double max) {
}
