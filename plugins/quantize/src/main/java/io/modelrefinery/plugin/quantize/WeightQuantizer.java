package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.Tensor;

/**
 * Quantizes constant tensors: weights to 8 bits per tensor or per channel, biases to int32 with the
 * scale of the product they are added to. Values round half to even, as ONNX Runtime does.
 */
final class WeightQuantizer {
    private WeightQuantizer() {
    }

    /** A quantized tensor and how to read it back. */
    record Quantized(Tensor values, QuantParams params) {
    }

    /**
     * Quantizes {@code weight}; per channel along {@code axis} when it is 0 or more.
     *
     * @param symmetric zero point in the middle of the range (0 for int8): required by ONNX Runtime's fused
     *     integer kernels for per-channel weights
     */
    static Quantized quantize(Tensor weight, QuantType type, int axis, boolean symmetric, boolean reduceRange) {
        float[] w = weight.toFloatArray();
        long[] shape = weight.shape();
        int channels = axis < 0 ? 1 : (int) shape[axis];
        int inner = 1;
        for (int d = axis + 1; d < shape.length && axis >= 0; d++) {
            inner *= (int) shape[d];
        }
        float[] scales = new float[channels];
        int[] zeroPoints = new int[channels];
        double[] mins = new double[channels];
        double[] maxs = new double[channels];
        java.util.Arrays.fill(mins, Double.POSITIVE_INFINITY);
        java.util.Arrays.fill(maxs, Double.NEGATIVE_INFINITY);
        for (int i = 0; i < w.length; i++) {
            int c = channel(i, channels, inner);
            mins[c] = Math.min(mins[c], w[i]);
            maxs[c] = Math.max(maxs[c], w[i]);
        }
        for (int c = 0; c < channels; c++) {
            QuantParams p = QuantParams.fromRange(mins[c], maxs[c], type, symmetric, reduceRange);
            scales[c] = p.scale();
            zeroPoints[c] = p.zeroPoint();
        }
        int[] q = type.range(reduceRange, symmetric);
        double[] out = new double[w.length];
        for (int i = 0; i < w.length; i++) {
            int c = channel(i, channels, inner);
            out[i] = clamp(Math.rint(w[i] / (double) scales[c]) + zeroPoints[c], q[0], q[1]);
        }
        return new Quantized(Tensor.fromDoubles(type.dataType(), shape, out),
                new QuantParams(scales, zeroPoints, type, axis < 0 ? -1 : axis));
    }

    /**
     * An int32 bias and its scales (zero points are 0).
     *
     * @param values the int32 tensor
     * @param scales one, or one per output channel
     */
    record QuantizedBias(Tensor values, float[] scales) {
    }

    /**
     * Quantizes a bias to int32 with scale {@code inputScale * weightScale[c]} and zero point 0, which is
     * what integer kernels add to their int32 accumulators.
     */
    static QuantizedBias bias(Tensor bias, float inputScale, QuantParams weight) {
        float[] b = bias.toFloatArray();
        float[] scales = new float[weight.scales().length];
        double[] out = new double[b.length];
        for (int c = 0; c < scales.length; c++) {
            scales[c] = inputScale * weight.scales()[c];
        }
        for (int i = 0; i < b.length; i++) {
            float s = scales[weight.perChannel() ? i : 0];
            out[i] = clamp(Math.rint(b[i] / (double) s), Integer.MIN_VALUE, Integer.MAX_VALUE);
        }
        return new QuantizedBias(Tensor.fromDoubles(DataType.INT32, bias.shape(), out), scales);
    }

    private static int channel(int flatIndex, int channels, int inner) {
        return channels == 1 ? 0 : (flatIndex / inner) % channels;
    }

    private static double clamp(double v, double lo, double hi) {
        return Math.max(lo, Math.min(hi, v));
    }
}
