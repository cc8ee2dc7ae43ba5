/**
 * The {@code quantize-dynamic} and {@code quantize-static} transforms: 8-bit integer quantization with
 * streaming calibration.
 */
package io.modelrefinery.plugin.quantize;
