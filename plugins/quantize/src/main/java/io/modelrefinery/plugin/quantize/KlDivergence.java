package io.modelrefinery.plugin.quantize;

/**
 * The divergence the entropy search minimises, for each candidate number of bins {@code length} of one
 * histogram: KL(p || q), p the first {@code length} bins with the clipped-off counts added to the last, q
 * those bins merged into {@code levels} groups and each group's count (before clipping) spread evenly over
 * its bins where p is not empty; both smoothed (each empty bin gets {@code EPS}, taken evenly from the
 * others) and normalised.
 *
 * <p>The search evaluates some 300 candidates per calibrated tensor, and evaluated bin by bin that cost a
 * logarithm per bin and candidate: more than the inference pass on a small network. Within a group q is one
 * value, and p is the histogram itself except the last bin, so prefix sums over the bins give each group's
 * share in a few operations: {@code sum (p - t) log(p - t)} from {@code sum p log p}, {@code sum log p} and
 * {@code sum 1/p} (t, the smoothing taken from each bin, is about {@code EPS} times the share of empty bins:
 * the second-order expansion in t is exact to about {@code t^3}). Where t is not small (a histogram almost
 * all empty) the divergence is computed bin by bin.
 */
final class KlDivergence {
    static final double EPS = 1e-4;
    /** Largest smoothing share for which the expansion is used. */
    private static final double EXPANSION_LIMIT = 1e-2;

    private final long[] h;
    private final int levels;
    private final long total;
    private final long[] suffix;
    private final int[] nonZero;
    private final long[] sum;
    private final double[] sumPLogP;
    private final double[] sumLogP;
    private final double[] sumInverse;

    /** @param h bin counts, the first bin already evened out */
    KlDivergence(long[] h, int levels) {
        this.h = h;
        this.levels = levels;
        int n = h.length;
        suffix = new long[n + 1];
        for (int i = n - 1; i >= 0; i--) {
            suffix[i] = suffix[i + 1] + h[i];
        }
        total = suffix[0];
        nonZero = new int[n + 1];
        sum = new long[n + 1];
        sumPLogP = new double[n + 1];
        sumLogP = new double[n + 1];
        sumInverse = new double[n + 1];
        for (int i = 0; i < n; i++) {
            boolean counted = h[i] != 0;
            double log = counted ? Math.log(h[i]) : 0;
            nonZero[i + 1] = nonZero[i] + (counted ? 1 : 0);
            sum[i + 1] = sum[i] + h[i];
            sumPLogP[i + 1] = sumPLogP[i] + h[i] * log;
            sumLogP[i + 1] = sumLogP[i] + log;
            sumInverse[i + 1] = sumInverse[i] + (counted ? 1.0 / h[i] : 0);
        }
    }

    /** KL(p || q) for {@code length} bins kept ({@code levels <= length <= bins}). */
    double of(int length) {
        int merged = length / levels;
        int last = length - 1;
        long clipped = suffix[length];
        long lastCount = h[last] + clipped;
        int pZeros = 0;
        int qZeros = 0;
        for (int level = 0; level < levels; level++) {
            int from = level * merged;
            int to = level == levels - 1 ? length : from + merged;
            int nonEmpty = nonEmpty(from, to, last, lastCount);
            pZeros += to - from - nonEmpty;
            qZeros += sum[to] - sum[from] == 0 ? to - from : to - from - nonEmpty;
        }
        if (pZeros == length || qZeros == length) {
            return Double.POSITIVE_INFINITY;
        }
        double pTake = EPS * pZeros / (length - pZeros);
        if (pTake > EXPANSION_LIMIT) {
            return binByBin(length);
        }
        double qTake = EPS * qZeros / (length - qZeros);
        double pTotal = total;
        double qTotal = total - clipped;
        double logP = Math.log(pTotal);
        // An empty bin of p is empty in q too: each adds the same term.
        double kl = pZeros * (EPS / pTotal) * Math.log(qTotal / pTotal);
        for (int level = 0; level < levels; level++) {
            int from = level * merged;
            int to = level == levels - 1 ? length : from + merged;
            int nonEmpty = nonEmpty(from, to, last, lastCount);
            if (nonEmpty == 0) {
                continue;
            }
            long groupSum = sum[to] - sum[from];
            double qSmoothed = groupSum == 0 ? EPS : Math.max(EPS, (double) groupSum / nonEmpty - qTake);
            double logQ = Math.log(qSmoothed / qTotal);
            // sum over the group's non-empty bins of p~ log p~ and of p~, with p~ = p - pTake
            int end = to == length ? last : to; // the last bin carries the clipped counts: added below
            int n = nonZero[end] - nonZero[from];
            double pLogP = sumPLogP[end] - sumPLogP[from] - pTake * (sumLogP[end] - sumLogP[from] + n)
                    + pTake * pTake / 2 * (sumInverse[end] - sumInverse[from]);
            double pSum = sum[end] - sum[from] - n * pTake;
            if (to == length && lastCount != 0) {
                double p = Math.max(EPS, lastCount - pTake);
                pLogP += p * Math.log(p);
                pSum += p;
            }
            kl += (pLogP - pSum * (logP + logQ)) / pTotal;
        }
        return kl;
    }

    private int nonEmpty(int from, int to, int last, long lastCount) {
        if (to <= last) {
            return nonZero[to] - nonZero[from];
        }
        return nonZero[last] - nonZero[from] + (lastCount != 0 ? 1 : 0);
    }

    /** The same divergence, bin by bin. */
    double binByBin(int length) {
        double[] p = new double[length];
        double[] q = new double[length];
        for (int j = 0; j < length; j++) {
            p[j] = h[j];
        }
        p[length - 1] += suffix[length];
        int merged = length / levels;
        for (int level = 0; level < levels; level++) {
            int from = level * merged;
            int to = level == levels - 1 ? length : from + merged;
            double groupSum = 0;
            int nonEmpty = 0;
            for (int j = from; j < to; j++) {
                groupSum += h[j];
                if (p[j] != 0) {
                    nonEmpty++;
                }
            }
            for (int j = from; j < to; j++) {
                q[j] = p[j] != 0 && nonEmpty > 0 ? groupSum / nonEmpty : 0;
            }
        }
        double[] sp = smoothingOf(p);
        double[] sq = smoothingOf(q);
        if (sp == null || sq == null) {
            return Double.POSITIVE_INFINITY;
        }
        double kl = 0;
        for (int i = 0; i < length; i++) {
            double pi = (p[i] == 0 ? EPS : Math.max(EPS, p[i] - sp[0])) / sp[1];
            double qi = (q[i] == 0 ? EPS : Math.max(EPS, q[i] - sq[0])) / sq[1];
            if (pi > 0) {
                kl += pi * Math.log(pi / qi);
            }
        }
        return kl;
    }

    /** {amount taken from each non-empty bin, total}, or null when all are empty. */
    private static double[] smoothingOf(double[] values) {
        int zeros = 0;
        double sum = 0;
        for (double v : values) {
            if (v == 0) {
                zeros++;
            }
            sum += v;
        }
        int nonZeros = values.length - zeros;
        return nonZeros == 0 ? null : new double[] {EPS * zeros / nonZeros, sum};
    }
}
