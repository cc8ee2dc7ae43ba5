package io.modelrefinery.plugin.quantize;

import java.util.Arrays;

/**
 * How a tensor maps to integers: {@code real = scale * (q - zeroPoint)}, per tensor (one scale) or per
 * channel along {@code axis}.
 *
 * @param scales one per tensor, or one per channel
 * @param zeroPoints as many as scales
 * @param type the integer type
 * @param axis the channel axis, or -1 per tensor
 */
public record QuantParams(float[] scales, int[] zeroPoints, QuantType type, int axis) {

    public static QuantParams perTensor(float scale, int zeroPoint, QuantType type) {
        return new QuantParams(new float[] {scale}, new int[] {zeroPoint}, type, -1);
    }

    public boolean perChannel() {
        return axis >= 0;
    }

    public float scale() {
        return scales[0];
    }

    public int zeroPoint() {
        return zeroPoints[0];
    }

    /**
     * Scale and zero point that map {@code [rmin, rmax]} onto the type's range, as ONNX Runtime's tool
     * computes them: the range is widened to include zero (so that zero is exact), a symmetric range is
     * centred on zero, the scale is computed in double and stored as float, and a degenerate range gets
     * scale 1.
     */
    public static QuantParams fromRange(double rmin, double rmax, QuantType type, boolean symmetric,
                                        boolean reduceRange) {
        int[] q = type.range(reduceRange, symmetric);
        double lo = Math.min(rmin, 0);
        double hi = Math.max(rmax, 0);
        if (symmetric) {
            double abs = Math.max(Math.abs(lo), Math.abs(hi));
            lo = -abs;
            hi = abs;
        }
        double scale = (hi - lo) / (q[1] - q[0]);
        if (scale < Float.MIN_NORMAL) {
            return perTensor(1f, 0, type);
        }
        int zeroPoint = symmetric ? (int) Math.rint((q[0] + q[1]) / 2.0) : (int) Math.rint(q[0] - lo / scale);
        return perTensor((float) scale, zeroPoint, type);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof QuantParams p && Arrays.equals(p.scales, scales) && Arrays.equals(p.zeroPoints, zeroPoints)
                && p.type == type && p.axis == axis;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(scales) * 31 + Arrays.hashCode(zeroPoints) + type.hashCode() * 7 + axis;
    }

    @Override
    public String toString() {
        return "QuantParams" + (perChannel() ? "[axis " + axis + "]" : "") + Arrays.toString(scales)
                + Arrays.toString(zeroPoints) + " " + type;
    }
}
