package io.modelrefinery.plugin.quantize;

import java.nio.FloatBuffer;

/**
 * A histogram over a range fixed up front, so that batches merge by adding counts and memory does not
 * grow with the number of samples. The range comes from a first pass that found each tensor's min and
 * max; values outside it (none, on the same data) go to the end bins.
 */
final class Histogram {
    private final double low;
    private final double high;
    private final long[] counts;
    private final double width;

    Histogram(double low, double high, int bins) {
        if (!(high > low)) {
            high = low + 1e-12;
        }
        this.low = low;
        this.high = high;
        this.counts = new long[bins];
        this.width = (high - low) / bins;
    }

    /** Counts {@code values}, or their absolute values. */
    void add(float[] values, boolean absolute) {
        add(FloatBuffer.wrap(values), absolute);
    }

    /** Counts the remaining {@code values}, or their absolute values. */
    void add(FloatBuffer values, boolean absolute) {
        int last = counts.length - 1;
        for (int i = values.position(); i < values.limit(); i++) {
            float v = values.get(i);
            double x = absolute ? Math.abs(v) : v;
            int bin = (int) ((x - low) / width);
            counts[bin < 0 ? 0 : Math.min(bin, last)]++;
        }
    }

    double edge(int i) {
        return low + i * width;
    }

    /**
     * The range holding {@code percentile} percent of the absolute values (this histogram must be of
     * absolute values, from 0): the edge where the cumulative share first reaches the percentile.
     */
    double absolutePercentile(double percentile) {
        long total = 0;
        for (long c : counts) {
            total += c;
        }
        double target = percentile / 100.0;
        long running = 0;
        for (int i = 0; i < counts.length; i++) {
            running += counts[i];
            if ((double) running / total >= target) {
                return edge(i + 1);
            }
        }
        return high;
    }

    /**
     * The symmetric clipping range that minimises the KL divergence between the clipped distribution and
     * its {@code quantizedBins}-level quantization (this histogram must span [-t, t] with an even number
     * of bins). Clipped-off counts are folded into the end bins of the reference distribution; the
     * quantized distribution spreads each level's count evenly over the bins that were non-empty.
     */
    TensorRange entropyRange(int quantizedBins) {
        int bins = counts.length;
        int zero = bins / 2;
        double bestDivergence = Double.POSITIVE_INFINITY;
        int best = bins / 2;
        for (int i = quantizedBins / 2; i <= bins / 2; i++) {
            int start = Math.max(0, zero - i);
            int end = Math.min(bins, zero + i + 1);
            double divergence = divergence(start, end, quantizedBins);
            if (divergence < bestDivergence) {
                bestDivergence = divergence;
                best = i;
            }
        }
        return new TensorRange(edge(Math.max(0, zero - best)), edge(Math.min(bins, zero + best + 1)));
    }

    private double divergence(int start, int end, int quantizedBins) {
        int length = end - start;
        double[] p = new double[length];
        for (int j = 0; j < length; j++) {
            p[j] = counts[start + j];
        }
        double[] sliced = p.clone();
        for (int j = 0; j < start; j++) {
            p[0] += counts[j];
        }
        for (int j = end; j < counts.length; j++) {
            p[length - 1] += counts[j];
        }
        double[] q = new double[length];
        int merged = Math.max(1, length / quantizedBins);
        int levels = Math.min(quantizedBins, length);
        for (int level = 0; level < levels; level++) {
            int from = level * merged;
            int to = level == levels - 1 ? length : from + merged;
            double sum = 0;
            int nonEmpty = 0;
            for (int j = from; j < to; j++) {
                sum += sliced[j];
                if (p[j] != 0) {
                    nonEmpty++;
                }
            }
            for (int j = from; j < to; j++) {
                q[j] = p[j] != 0 && nonEmpty > 0 ? sum / nonEmpty : 0;
            }
        }
        if (!smooth(p) || !smooth(q)) {
            return Double.POSITIVE_INFINITY;
        }
        return klDivergence(p, q);
    }

    /** Gives empty bins a tiny mass taken from the others, so that the divergence stays finite. */
    private static boolean smooth(double[] h) {
        final double eps = 1e-4;
        int zeros = 0;
        for (double v : h) {
            if (v == 0) {
                zeros++;
            }
        }
        int nonZeros = h.length - zeros;
        if (nonZeros == 0) {
            return false;
        }
        double take = eps * zeros / nonZeros;
        if (take >= 1.0) {
            return false;
        }
        for (int i = 0; i < h.length; i++) {
            h[i] = h[i] == 0 ? eps : h[i] - take;
        }
        return true;
    }

    private static double klDivergence(double[] p, double[] q) {
        double sp = 0;
        double sq = 0;
        for (int i = 0; i < p.length; i++) {
            sp += p[i];
            sq += q[i];
        }
        double kl = 0;
        for (int i = 0; i < p.length; i++) {
            double pi = p[i] / sp;
            double qi = q[i] / sq;
            if (pi > 0) {
                kl += pi * Math.log(pi / qi);
            }
        }
        return kl;
    }
}
