package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.onnx.DataType;

/** The 8-bit integer types quantized tensors are stored in, with the ranges ONNX Runtime's tool uses. */
public enum QuantType {
    INT8(DataType.INT8, -128, 127),
    UINT8(DataType.UINT8, 0, 255);

    private final DataType dataType;
    private final int qmin;
    private final int qmax;

    QuantType(DataType dataType, int qmin, int qmax) {
        this.dataType = dataType;
        this.qmin = qmin;
        this.qmax = qmax;
    }

    public DataType dataType() {
        return dataType;
    }

    /**
     * The integer range used: the full type; 7 bits with {@code reduceRange} (for CPUs whose 8-bit dot
     * products can saturate); symmetric int8 drops -128 so that zero sits in the middle.
     *
     * @return {qmin, qmax}
     */
    public int[] range(boolean reduceRange, boolean symmetric) {
        if (reduceRange) {
            return this == UINT8 ? new int[] {0, 127} : new int[] {-64, 64};
        }
        if (symmetric && this == INT8) {
            return new int[] {-127, 127};
        }
        return new int[] {qmin, qmax};
    }
}
