package io.modelrefinery.plugin.quantize;

/** How activation ranges are chosen from calibration samples. */
public enum CalibrationMethod {
    /** The smallest and largest value seen: no clipping, coarse steps when outliers exist. */
    MIN_MAX,
    /** Clip the rarest values: the range holds the given percentile of absolute values. */
    PERCENTILE,
    /** The clipping that loses the least information (KL divergence of the 8-bit histogram, as TensorRT does). */
    ENTROPY
}
