package io.modelrefinery.plugin.quantize;

/**
 * A histogram of absolute values over {@code [0, high]} with a fixed number of bins, merged batch by batch:
 * each batch arrives already counted over its own range (in the calibration graph, so that only bin indices
 * cross into Java), and when a batch reaches beyond the range seen so far the counts are re-binned into the
 * wider one, as ONNX Runtime's histogram calibrator does. Memory is the bins, whatever the number of samples.
 */
final class Histogram {
    private final long[] counts;
    private double high;

    Histogram(int bins) {
        this.counts = new long[bins];
    }

    int bins() {
        return counts.length;
    }

    double high() {
        return high;
    }

    /**
     * Adds a batch counted over {@code [0, batchHigh]} into as many bins as this histogram has. Each batch bin
     * goes to the bin holding its centre.
     */
    void add(long[] batchCounts, double batchHigh) {
        if (batchCounts.length != counts.length) {
            throw new IllegalArgumentException("a batch of " + batchCounts.length + " bins into " + counts.length);
        }
        if (batchHigh > high) {
            rebin(batchHigh);
        }
        if (high == 0) {
            for (int i = 0; i < counts.length; i++) {
                counts[i] += batchCounts[i];
            }
            return;
        }
        double ratio = batchHigh / high;
        int last = counts.length - 1;
        for (int i = 0; i < batchCounts.length; i++) {
            if (batchCounts[i] != 0) {
                counts[Math.min(last, (int) ((i + 0.5) * ratio))] += batchCounts[i];
            }
        }
    }

    /** Counts the absolute values of {@code values} (a batch with its own range). */
    void add(float[] values) {
        double max = 0;
        for (float v : values) {
            max = Math.max(max, Math.abs(v));
        }
        long[] batch = new long[counts.length];
        double scale = max > 0 ? counts.length / max : 0;
        for (float v : values) {
            batch[Math.min(counts.length - 1, (int) (Math.abs(v) * scale))]++;
        }
        add(batch, max);
    }

    private void rebin(double newHigh) {
        if (high > 0) {
            long[] old = counts.clone();
            java.util.Arrays.fill(counts, 0);
            double ratio = high / newHigh;
            for (int i = 0; i < old.length; i++) {
                counts[Math.min(counts.length - 1, (int) ((i + 0.5) * ratio))] += old[i];
            }
        }
        high = newHigh;
    }

    double edge(int i) {
        return high * i / counts.length;
    }

    /** The absolute value below which {@code percentile} percent of the values lie: an upper bin edge. */
    double percentile(double percentile) {
        long total = total();
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

    private long total() {
        long total = 0;
        for (long c : counts) {
            total += c;
        }
        return total;
    }

    /**
     * The clipping threshold that loses the least information when the values up to it are spread over
     * {@code levels} steps (TensorRT's entropy calibration, on absolute values): for each candidate number of
     * bins {@code i} from {@code levels} up, the reference distribution is the first {@code i} bins with the
     * clipped-off counts added to the last, the candidate is those bins merged into {@code levels} groups and
     * spread back evenly over the bins that were not empty; the threshold is the upper edge of the {@code i}
     * with the smallest KL divergence.
     *
     * @param levels quantization steps over {@code [0, threshold]}: 256 for a uint8 tensor that is never
     *     negative, 128 for one whose range is centred on zero
     */
    double entropyThreshold(int levels) {
        int bins = counts.length;
        if (levels >= bins || total() == 0) {
            return high;
        }
        // The first bin holds the exact zeros of ReLU outputs, which the zero point represents exactly; left as
        // it is, that spike dominates the divergence and drives the threshold to the smallest candidate. It
        // counts as much as its neighbour instead, as NVIDIA's calibrator does.
        long[] h = counts.clone();
        h[0] = h[1];
        long[] suffix = new long[bins + 1];
        for (int i = bins - 1; i >= 0; i--) {
            suffix[i] = suffix[i + 1] + h[i];
        }
        double[] p = new double[bins];
        double[] q = new double[bins];
        // Coarse steps over every candidate, then every bin around the best: the divergence varies smoothly.
        int step = Math.max(1, (bins - levels) / 256);
        int bestBins = best(h, levels, bins, step, suffix, p, q, levels);
        return edge(best(h, Math.max(levels, bestBins - step), Math.min(bins, bestBins + step), 1, suffix, p, q, levels));
    }

    private static int best(long[] h, int from, int to, int step, long[] suffix, double[] p, double[] q, int levels) {
        double best = Double.POSITIVE_INFINITY;
        int bestBins = to;
        for (int i = from; i <= to; i += step) {
            double divergence = divergence(h, i, levels, suffix[i], p, q);
            if (divergence < best) {
                best = divergence;
                bestBins = i;
            }
        }
        return bestBins;
    }

    private static double divergence(long[] h, int length, int levels, long clipped, double[] p, double[] q) {
        for (int j = 0; j < length; j++) {
            p[j] = h[j];
        }
        p[length - 1] += clipped;
        int merged = length / levels;
        for (int level = 0; level < levels; level++) {
            int from = level * merged;
            int to = level == levels - 1 ? length : from + merged;
            double sum = 0;
            int nonEmpty = 0;
            for (int j = from; j < to; j++) {
                sum += h[j];
                if (p[j] != 0) {
                    nonEmpty++;
                }
            }
            for (int j = from; j < to; j++) {
                q[j] = p[j] != 0 && nonEmpty > 0 ? sum / nonEmpty : 0;
            }
        }
        return klDivergence(p, q, length);
    }

    /**
     * KL(p || q) over the first {@code length} entries, each normalised, with empty bins given a tiny mass
     * taken evenly from the others so that the divergence stays finite.
     */
    private static double klDivergence(double[] p, double[] q, int length) {
        double[] sp = smoothingOf(p, length);
        double[] sq = smoothingOf(q, length);
        if (sp == null || sq == null) {
            return Double.POSITIVE_INFINITY;
        }
        double kl = 0;
        for (int i = 0; i < length; i++) {
            double pi = (p[i] == 0 ? sp[0] : Math.max(sp[0], p[i] - sp[1])) / sp[2];
            double qi = (q[i] == 0 ? sq[0] : Math.max(sq[0], q[i] - sq[1])) / sq[2];
            if (pi > 0) {
                kl += pi * Math.log(pi / qi);
            }
        }
        return kl;
    }

    /** {epsilon given to empty bins, amount taken from the others, total}, or null when all are empty. */
    private static double[] smoothingOf(double[] h, int length) {
        final double eps = 1e-4;
        int zeros = 0;
        double total = 0;
        for (int i = 0; i < length; i++) {
            if (h[i] == 0) {
                zeros++;
            }
            total += h[i];
        }
        int nonZeros = length - zeros;
        if (nonZeros == 0) {
            return null;
        }
        double take = eps * zeros / nonZeros;
        return new double[] {eps, take, total};
    }
}
