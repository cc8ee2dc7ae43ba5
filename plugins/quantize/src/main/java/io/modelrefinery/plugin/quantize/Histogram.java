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

    /** A copy of the counts. */
    long[] counts() {
        return counts.clone();
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
        add(values, max);
    }

    /** Adds {@code values} binned over {@code [0, high]}, the absolute maximum of what they were sampled from. */
    void add(float[] values, double high) {
        long[] batch = new long[counts.length];
        double scale = high > 0 ? counts.length / high : 0;
        for (float v : values) {
            batch[Math.min(counts.length - 1, (int) (Math.abs(v) * scale))]++;
        }
        add(batch, high);
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
        KlDivergence divergence = new KlDivergence(h, levels);
        // Coarse steps over every candidate, then every bin around the best: the divergence varies smoothly.
        int step = Math.max(1, (bins - levels) / 256);
        int bestBins = best(divergence, levels, bins, step);
        return edge(best(divergence, Math.max(levels, bestBins - step), Math.min(bins, bestBins + step), 1));
    }

    private static int best(KlDivergence divergence, int from, int to, int step) {
        double best = Double.POSITIVE_INFINITY;
        int bestBins = to;
        for (int i = from; i <= to; i += step) {
            double d = divergence.of(i);
            if (d < best) {
                best = d;
                bestBins = i;
            }
        }
        return bestBins;
    }
}
