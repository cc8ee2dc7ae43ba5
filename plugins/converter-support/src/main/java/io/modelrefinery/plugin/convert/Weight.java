package io.modelrefinery.plugin.convert;

import io.modelrefinery.api.onnx.Tensor;

import java.util.Objects;

/**
 * A constant for an operator, in ONNX's layout: float data, or integer data with the quantization
 * parameters that map it to floats (it then becomes a DequantizeLinear in the graph).
 *
 * @param data the values
 * @param quantization how {@code data} maps to floats, or {@code null} for float data
 */
public record Weight(Tensor data, Quantization quantization) {
    public Weight {
        Objects.requireNonNull(data, "data");
    }

    public static Weight of(Tensor data) {
        return new Weight(data, null);
    }

    /**
     * Linear quantization: {@code real = scale * (q - zeroPoint)}.
     *
     * @param scale float scale, a scalar or one per slice along {@code axis}
     * @param zeroPoint zero point of the quantized type, shaped like {@code scale}
     * @param axis the axis the scales run along; ignored for one scale
     */
    public record Quantization(Tensor scale, Tensor zeroPoint, int axis) {
        public Quantization {
            Objects.requireNonNull(scale, "scale");
            Objects.requireNonNull(zeroPoint, "zeroPoint");
        }

        /** One scale per slice along {@code axis}, rather than one for the whole tensor. */
        public boolean perAxis() {
            return scale.elementCount() > 1;
        }
    }
}
