/**
 * The {@code quantize-dynamic} and {@code quantize-static} transforms: 8-bit integer quantization with
 * streaming calibration; {@code quantize-weights}: 4- and 8-bit block-wise weight-only quantization
 * (MatMulNBits, GatherBlockQuantized) by RTN, GPTQ or HQQ.
 */
package io.modelrefinery.plugin.quantize;
