package io.modelrefinery.plugin.prune;

import java.util.PriorityQueue;

/**
 * Exact optimal brain surgeon pruning of one layer group, row by row, as Optimal Brain Compression does
 * (Frantar and Alistarh, 2022): each row repeatedly drops the weight of least saliency
 * {@code w_j^2 / [H^-1]_jj}, moves the others by {@code -w_j / [H^-1]_jj * H^-1[:, j]} and removes
 * {@code j} from the inverse Hessian (a rank-one downdate), recording the loss and the weights after every
 * step. The layer's count is then spread over its rows by those losses (the cheapest next step first), so
 * rows that matter keep more. Costs {@code K^2} per step and row and {@code K^2} floats per row, which
 * is why {@link SparseGptPruning} takes it only for layers under {@link #MAX_ENTRIES}; N:M rows prune
 * among the weights whose group still has room.
 */
final class ObsPruner {
    /** Largest {@code rows * K * K} solved exactly: 32 MiB of recorded float weights. */
    static final long MAX_ENTRIES = 8L << 20;

    private final double[][] start;
    private final int prunable;
    /** Per row, the OBS loss after each step (index 0: nothing pruned). */
    private final double[][] losses;
    /** Per row, the weights after each step. */
    private final float[][][] steps;

    /**
     * @param prepared the refit weights and damped inverse Hessian of the group
     * @param prunable columns {@code [0, prunable)} may be pruned (the bias column after them never is)
     * @param n with {@code m > 0}: weights kept of every {@code m} consecutive columns; the rows then take
     *     only the steps the pattern needs
     */
    ObsPruner(Reconstructor.Prepared prepared, int prunable, int n, int m) {
        this.start = prepared.weights();
        this.prunable = prunable;
        int rows = start.length;
        int most = m > 0 ? prunable / m * (m - n) : prunable - 1;
        losses = new double[rows][most + 1];
        steps = new float[rows][most + 1][];
        double[][] inverse = prepared.inverse();
        int k = inverse.length;
        for (int r = 0; r < rows; r++) {
            double[] w = start[r].clone();
            double[][] hinv = new double[k][];
            for (int i = 0; i < k; i++) {
                hinv[i] = inverse[i].clone();
            }
            boolean[] pruned = new boolean[k];
            int[] groupPruned = m > 0 ? new int[prunable / m] : null;
            steps[r][0] = toFloats(w);
            double loss = 0;
            for (int step = 1; step <= most; step++) {
                int best = -1;
                double bestScore = Double.POSITIVE_INFINITY;
                for (int j = 0; j < prunable; j++) {
                    if (pruned[j] || (groupPruned != null && groupPruned[j / m] >= m - n)) {
                        continue;
                    }
                    double score = w[j] * w[j] / hinv[j][j];
                    if (score < bestScore) {
                        bestScore = score;
                        best = j;
                    }
                }
                double d = hinv[best][best];
                double scale = w[best] / d;
                double[] column = hinv[best];
                for (int t = 0; t < k; t++) {
                    w[t] -= scale * column[t];
                }
                pruned[best] = true;
                for (int j = 0; j < prunable; j++) {
                    if (pruned[j]) {
                        w[j] = 0; // exactly, whatever the rounding of the updates
                    }
                }
                if (groupPruned != null) {
                    groupPruned[best / m]++;
                }
                // remove input `best` from the inverse: H^-1 - H^-1[:, j] H^-1[j, :] / H^-1[j, j]
                double[] cj = column.clone();
                for (int a = 0; a < k; a++) {
                    double f = cj[a] / d;
                    if (f == 0) {
                        continue;
                    }
                    double[] ha = hinv[a];
                    for (int b = 0; b < k; b++) {
                        ha[b] -= f * cj[b];
                    }
                }
                hinv[best][best] = 1; // keeps later divisions finite; the column is never chosen again
                loss += bestScore / 2;
                losses[r][step] = loss;
                steps[r][step] = toFloats(w);
            }
        }
    }

    /** The rows' weights with {@code count} pruned in all, rows taking the cheapest next step first. */
    double[][] weights(long count) {
        return weights(new ObsPruner[] {this}, count);
    }

    /**
     * The rows of all {@code pruners} (whose losses are in the same units), one after the other, with
     * {@code count} pruned in all, the cheapest next step of any row first.
     */
    static double[][] weights(ObsPruner[] pruners, long count) {
        int[][] taken = new int[pruners.length][];
        for (int p = 0; p < pruners.length; p++) {
            taken[p] = new int[pruners[p].start.length];
        }
        PriorityQueue<int[]> next = new PriorityQueue<>((a, b) -> Double.compare(
                pruners[a[0]].increase(a[1], taken[a[0]][a[1]]), pruners[b[0]].increase(b[1], taken[b[0]][b[1]])));
        for (int p = 0; p < pruners.length; p++) {
            for (int r = 0; r < taken[p].length; r++) {
                if (pruners[p].losses[r].length > 1) {
                    next.add(new int[] {p, r});
                }
            }
        }
        for (long i = 0; i < count && !next.isEmpty(); i++) {
            int[] row = next.poll();
            int t = ++taken[row[0]][row[1]];
            if (t + 1 < pruners[row[0]].losses[row[1]].length) {
                next.add(row);
            }
        }
        java.util.List<double[]> out = new java.util.ArrayList<>();
        for (int p = 0; p < pruners.length; p++) {
            out.addAll(java.util.List.of(pruners[p].at(taken[p])));
        }
        return out.toArray(new double[0][]);
    }

    /** The rows of all {@code pruners}, one after the other, each pruned as far as its pattern goes. */
    static double[][] all(ObsPruner[] pruners) {
        java.util.List<double[]> out = new java.util.ArrayList<>();
        for (ObsPruner pruner : pruners) {
            out.addAll(java.util.List.of(pruner.all()));
        }
        return out.toArray(new double[0][]);
    }

    /** The rows' weights with every row pruned as far as its pattern goes (N:M). */
    double[][] all() {
        int[] taken = new int[start.length];
        for (int r = 0; r < taken.length; r++) {
            taken[r] = losses[r].length - 1;
        }
        return at(taken);
    }

    private double increase(int row, int taken) {
        return losses[row][taken + 1] - losses[row][taken];
    }

    private double[][] at(int[] taken) {
        double[][] out = new double[start.length][];
        for (int r = 0; r < out.length; r++) {
            float[] f = steps[r][taken[r]];
            double[] w = new double[f.length];
            for (int j = 0; j < f.length; j++) {
                w[j] = f[j];
            }
            out[r] = w;
        }
        return out;
    }

    private static float[] toFloats(double[] w) {
        float[] f = new float[w.length];
        for (int j = 0; j < w.length; j++) {
            f[j] = (float) w[j];
        }
        return f;
    }
}
