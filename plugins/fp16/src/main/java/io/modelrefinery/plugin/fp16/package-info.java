/** The {@code fp16} transform: float32 to float16 conversion of weights and activations. */
package io.modelrefinery.plugin.fp16;
