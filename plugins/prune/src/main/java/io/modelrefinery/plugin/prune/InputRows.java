package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.Tensor;

import java.util.List;

/**
 * The rows a layer's weight multiplies: for Gemm and MatMul each sample's input vector, for a
 * convolution one im2col row per output position and group, ordered as {@link WeightLayer} orders
 * columns (kernel position outer, input channel inner). Each row ends with a 1 for the bias. Convolutions
 * with one or two spatial dimensions are supported.
 */
final class InputRows {
    /** Receives the row of one output position in the original model and in the pruned one. */
    @FunctionalInterface
    interface Sink {
        void accept(int group, double[] dense, double[] pruned);
    }

    private InputRows() {
    }

    /** Whether rows can be taken for {@code layer}: Gemm, MatMul, and convolutions of rank 3 or 4. */
    static boolean supported(WeightLayer layer) {
        if (layer.kind != WeightLayer.Kind.CONV) {
            return true;
        }
        String autoPad = OnnxHelper.getString(layer.node, "auto_pad", "NOTSET");
        return (layer.shape.length == 3 || layer.shape.length == 4)
                && (autoPad.equals("NOTSET") || autoPad.equals("VALID") || autoPad.startsWith("SAME"));
    }

    /**
     * Hands every row of one batch to {@code sink}.
     *
     * @param denseLayer the layer in the original model, {@code dense} its input
     * @param prunedLayer the layer in the pruned model (fewer input channels after channel pruning),
     *     {@code pruned} its input
     */
    static void forEach(WeightLayer denseLayer, Tensor dense, WeightLayer prunedLayer, Tensor pruned, Sink sink) {
        if (denseLayer.kind != WeightLayer.Kind.CONV) {
            matrixRows(denseLayer, dense, prunedLayer, pruned, sink);
        } else {
            convRows(denseLayer, dense, prunedLayer, pruned, sink);
        }
    }

    private static void matrixRows(WeightLayer dl, Tensor dense, WeightLayer pl, Tensor pruned, Sink sink) {
        float[] d = dense.toFloatArray();
        float[] p = pruned == dense ? d : pruned.toFloatArray();
        int kd = dl.columns;
        int kp = pl.columns;
        int n = d.length / kd;
        if (p.length / kp != n) {
            throw new IllegalStateException("inputs of " + dl.name() + " disagree in rows: " + n + " and " + p.length / kp);
        }
        for (int i = 0; i < n; i++) {
            double[] xd = new double[kd + 1];
            double[] xp = p == d && kp == kd ? xd : new double[kp + 1];
            for (int j = 0; j < kd; j++) {
                xd[j] = d[i * kd + j];
            }
            xd[kd] = 1;
            if (xp != xd) {
                for (int j = 0; j < kp; j++) {
                    xp[j] = p[i * kp + j];
                }
                xp[kp] = 1;
            }
            sink.accept(0, xd, xp);
        }
    }

    /** Geometry of one convolution over one input. */
    private static final class Geometry {
        final int batch;
        final int height;
        final int width;
        final int kh;
        final int kw;
        final int sh;
        final int sw;
        final int dh;
        final int dw;
        final int padTop;
        final int padLeft;
        final int outH;
        final int outW;

        Geometry(WeightLayer layer, long[] inputShape) {
            boolean oneD = layer.shape.length == 3;
            batch = (int) inputShape[0];
            height = oneD ? 1 : (int) inputShape[2];
            width = (int) inputShape[oneD ? 2 : 3];
            kh = oneD ? 1 : (int) layer.shape[2];
            kw = (int) layer.shape[oneD ? 2 : 3];
            List<Long> strides = OnnxHelper.getInts(layer.node, "strides");
            List<Long> dilations = OnnxHelper.getInts(layer.node, "dilations");
            List<Long> pads = OnnxHelper.getInts(layer.node, "pads");
            sh = oneD ? 1 : at(strides, 0, 1);
            sw = at(strides, oneD ? 0 : 1, 1);
            dh = oneD ? 1 : at(dilations, 0, 1);
            dw = at(dilations, oneD ? 0 : 1, 1);
            String autoPad = OnnxHelper.getString(layer.node, "auto_pad", "NOTSET");
            if (autoPad.startsWith("SAME")) {
                int[] hp = same(height, kh, sh, dh, autoPad.equals("SAME_LOWER"));
                int[] wp = same(width, kw, sw, dw, autoPad.equals("SAME_LOWER"));
                padTop = hp[0];
                padLeft = wp[0];
                outH = (height + hp[0] + hp[1] - dh * (kh - 1) - 1) / sh + 1;
                outW = (width + wp[0] + wp[1] - dw * (kw - 1) - 1) / sw + 1;
            } else {
                boolean valid = autoPad.equals("VALID");
                int rank = oneD ? 1 : 2;
                padTop = valid || oneD ? 0 : at(pads, 0, 0);
                padLeft = valid ? 0 : at(pads, oneD ? 0 : 1, 0);
                int padBottom = valid || oneD ? 0 : at(pads, rank, 0);
                int padRight = valid ? 0 : at(pads, oneD ? 1 : 3, 0);
                outH = (height + padTop + padBottom - dh * (kh - 1) - 1) / sh + 1;
                outW = (width + padLeft + padRight - dw * (kw - 1) - 1) / sw + 1;
            }
        }

        private static int[] same(int in, int k, int s, int d, boolean lower) {
            int out = (in + s - 1) / s;
            int total = Math.max(0, (out - 1) * s + (k - 1) * d + 1 - in);
            int small = total / 2;
            return lower ? new int[] {total - small, small} : new int[] {small, total - small};
        }

        private static int at(List<Long> values, int i, int dflt) {
            return values.size() > i ? values.get(i).intValue() : dflt;
        }
    }

    private static void convRows(WeightLayer dl, Tensor dense, WeightLayer pl, Tensor pruned, Sink sink) {
        Geometry geo = new Geometry(dl, dense.shape());
        float[] d = dense.toFloatArray();
        float[] p = pruned == dense ? d : pruned.toFloatArray();
        int channelsD = (int) dense.dim(1);
        int channelsP = (int) pruned.dim(1);
        int plane = geo.height * geo.width;
        for (int n = 0; n < geo.batch; n++) {
            for (int g = 0; g < dl.groups; g++) {
                for (int oy = 0; oy < geo.outH; oy++) {
                    for (int ox = 0; ox < geo.outW; ox++) {
                        double[] xd = row(d, n, g, oy, ox, geo, dl.channelsPerGroup, channelsD, plane);
                        double[] xp = p == d && pl.channelsPerGroup == dl.channelsPerGroup ? xd
                                : row(p, n, g, oy, ox, geo, pl.channelsPerGroup, channelsP, plane);
                        sink.accept(g, xd, xp);
                    }
                }
            }
        }
    }

    private static double[] row(float[] x, int n, int g, int oy, int ox, Geometry geo, int cPerGroup, int channels,
                                int plane) {
        double[] row = new double[cPerGroup * geo.kh * geo.kw + 1];
        int k = 0;
        for (int ky = 0; ky < geo.kh; ky++) {
            int iy = oy * geo.sh - geo.padTop + ky * geo.dh;
            for (int kx = 0; kx < geo.kw; kx++, k++) {
                int ix = ox * geo.sw - geo.padLeft + kx * geo.dw;
                if (iy < 0 || iy >= geo.height || ix < 0 || ix >= geo.width) {
                    continue;
                }
                int base = (n * channels + g * cPerGroup) * plane + iy * geo.width + ix;
                for (int c = 0; c < cPerGroup; c++) {
                    row[k * cPerGroup + c] = x[base + c * plane];
                }
            }
        }
        row[row.length - 1] = 1;
        return row;
    }
}
