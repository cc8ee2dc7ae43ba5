package io.modelrefinery.plugin.prune;

import java.util.Arrays;

/**
 * Least-squares reconstruction of one layer from its own inputs, in the manner of OBS and SparseGPT
 * (Frantar and Alistarh, 2023). With {@code X} the layer's inputs in the pruned model, {@code X0} in the
 * original one and {@code W} the original weights (a bias column included), it first finds the weights
 * that best reproduce the original outputs from the pruned model's inputs,
 * {@code W* = argmin |W X0 - W' X|^2 + lambda |W' - W|^2}, then prunes column by column: each pruned
 * weight's error is spread over the columns not yet visited through the Cholesky factor of the inverse
 * Hessian {@code (X^T X + lambda I)^-1} (the optimal brain surgeon update), and weights are chosen by
 * {@code w^2 / [H^-1]_jj} on the weights as updated so far. The updates are lazy, as SparseGPT's: applied
 * at once within a block of columns chosen together, and to the columns after it once per block. The bias
 * column is never pruned and absorbs the mean error: bias correction.
 *
 * <p>Statistics accumulate row by row ({@link #add}); memory is {@code K^2} per group, independent of the
 * number of samples.
 */
final class Reconstructor {
    /** Columns whose pruning choice is made at once (SparseGPT's adaptive mask blocks). */
    static final int BLOCK = 128;

    private final int denseColumns;
    private final int prunedColumns;
    /** {@code X^T X} over the pruned model's rows, upper triangle. */
    private final double[][] h;
    /** {@code X^T X0}: pruned rows against original rows. */
    private final double[][] cross;
    private final boolean same;
    private long rowCount;
    /** The last factorizations, and their damping. */
    private Prepared prepared;
    private double preparedDamp;

    /**
     * @param denseColumns columns of the original layer, the bias column included
     * @param prunedColumns columns of the pruned layer, the bias column included
     * @param same whether both models feed the layer the same inputs (nothing before it was pruned)
     */
    Reconstructor(int denseColumns, int prunedColumns, boolean same) {
        this.denseColumns = denseColumns;
        this.prunedColumns = prunedColumns;
        this.same = same;
        this.h = new double[prunedColumns][prunedColumns];
        this.cross = same ? null : new double[prunedColumns][denseColumns];
    }

    /** Adds one input row: as the original model computes it and as the pruned one does. */
    void add(double[] dense, double[] pruned) {
        add(dense, pruned, 1);
    }

    /** Adds one input row counting {@code weight} times in the squared error (weighted least squares). */
    void add(double[] dense, double[] pruned, double weight) {
        rowCount++;
        prepared = null;
        for (int i = 0; i < prunedColumns; i++) {
            double xi = pruned[i] * weight;
            if (xi == 0) {
                continue;
            }
            double[] hi = h[i];
            for (int j = i; j < prunedColumns; j++) {
                hi[j] += xi * pruned[j];
            }
            if (!same) {
                double[] ci = cross[i];
                for (int j = 0; j < denseColumns; j++) {
                    ci[j] += xi * dense[j];
                }
            }
        }
    }

    long rows() {
        return rowCount;
    }

    /** How weights are chosen for pruning. */
    interface Selection {
        /**
         * Marks the weights of columns {@code [start, end)} to prune, given the weights as updated so far
         * and the diagonal of the inverse Hessian's Cholesky factor.
         */
        void choose(double[][] w, double[] diagonal, int start, int end, boolean[][] prune);

        /** Columns chosen at once, on the weights as updated by every column before them. */
        default int block() {
            return BLOCK;
        }
    }

    /**
     * Reconstructs the layer.
     *
     * @param original the original weights of each output row over the original columns (bias last)
     * @param start the pruned layer's current weights (bias last), the regularization target and the
     *     starting point: {@code original} when the layer keeps its shape
     * @param prunable columns {@code [0, prunable)} may be pruned; the others (the bias) never are
     * @param selection which weights to prune; {@code null} to only refit
     * @param damp the share of the mean Hessian diagonal added to it (SparseGPT's percdamp)
     * @return the new weights, rows by pruned columns (bias last)
     */
    double[][] solve(double[][] original, double[][] start, int prunable, Selection selection, double damp) {
        int k = prunedColumns;
        int rows = start.length;
        Prepared prepared = prepare(original, start, damp);
        double[][] w = prepared.weights();
        if (selection == null) {
            return w;
        }
        double[][] u = prepared.upper();
        double[] diagonal = new double[k];
        for (int i = 0; i < k; i++) {
            diagonal[i] = u[i][i];
        }
        boolean[][] prune = new boolean[rows][k];
        for (int block = 0; block < prunable; block += selection.block()) {
            int end = Math.min(block + selection.block(), prunable);
            selection.choose(w, diagonal, block, end, prune);
            update(w, u, prune, block, end);
        }
        return w;
    }

    /**
     * What pruning starts from.
     *
     * @param weights the refit weights (a copy of {@code start} when both models feed the same inputs)
     * @param inverse the damped inverse Hessian {@code (X^T X + lambda I)^-1}
     * @param upper its upper Cholesky factor: row {@code j} spreads column {@code j}'s error over the later ones
     */
    record Prepared(double[][] weights, double[][] inverse, double[][] upper) {
    }

    /** The refit weights and the factorizations; reused while the statistics do not change and the layer keeps its inputs. */
    Prepared prepare(double[][] original, double[][] start, double damp) {
        int k = prunedColumns;
        int rows = start.length;
        double[][] w = new double[rows][];
        for (int r = 0; r < rows; r++) {
            w[r] = start[r].clone();
        }
        if (same && prepared != null && preparedDamp == damp) {
            return new Prepared(w, prepared.inverse(), prepared.upper());
        }
        double[][] hd = new double[k][k];
        double mean = 0;
        for (int i = 0; i < k; i++) {
            for (int j = i; j < k; j++) {
                hd[i][j] = h[i][j];
                hd[j][i] = h[i][j];
            }
            mean += h[i][i];
        }
        mean /= k;
        // An input that never fires on these samples has only the damping on its diagonal: its weights
        // stay as they are through the refit and, costing nothing here, are the first pruned.
        double lambda = Math.max(damp * mean, 1e-12);
        for (int attempt = 0; attempt < 6; attempt++, lambda *= 10) {
            double[][] damped = new double[k][];
            for (int i = 0; i < k; i++) {
                damped[i] = hd[i].clone();
                damped[i][i] += lambda;
            }
            double[][] l = cholesky(damped);
            if (l == null) {
                continue;
            }
            double[][] refit = same ? w : refit(l, original, w, lambda);
            double[][] inverse = inverseFromCholesky(l);
            double[][] l2 = cholesky(inverse);
            if (l2 != null) {
                prepared = new Prepared(refit, inverse, transpose(l2));
                preparedDamp = damp;
                return prepared;
            }
        }
        throw new IllegalStateException("the layer's input statistics are not positive definite even when damped");
    }

    /**
     * The optimal brain surgeon update of the block's pruned weights, done lazily as SparseGPT does: each
     * pruned weight's error goes at once to the block's later columns, and the block's errors together
     * to the columns after it, one pass over them per block instead of per column.
     */
    private static void update(double[][] w, double[][] u, boolean[][] prune, int block, int end) {
        int k = u.length;
        int width = end - block;
        for (int r = 0; r < w.length; r++) {
            double[] wr = w[r];
            double[] err = new double[width];
            boolean any = false;
            for (int j = block; j < end; j++) {
                if (!prune[r][j]) {
                    continue;
                }
                double e = wr[j] / u[j][j];
                err[j - block] = e;
                any = true;
                wr[j] = 0;
                double[] uj = u[j];
                for (int t = j + 1; t < end; t++) {
                    wr[t] -= e * uj[t];
                }
            }
            if (!any) {
                continue;
            }
            for (int j = 0; j < width; j++) {
                double e = err[j];
                if (e == 0) {
                    continue;
                }
                double[] uj = u[block + j];
                for (int t = end; t < k; t++) {
                    wr[t] -= e * uj[t];
                }
            }
        }
    }

    /** {@code (H + lambda I)^-1 (X^T X0 w0 + lambda w)} for every row: the best weights before pruning. */
    private double[][] refit(double[][] l, double[][] original, double[][] current, double lambda) {
        int k = prunedColumns;
        double[][] out = new double[current.length][];
        for (int r = 0; r < current.length; r++) {
            double[] rhs = new double[k];
            for (int i = 0; i < k; i++) {
                double s = lambda * current[r][i];
                double[] ci = cross[i];
                double[] wr = original[r];
                for (int j = 0; j < denseColumns; j++) {
                    s += ci[j] * wr[j];
                }
                rhs[i] = s;
            }
            out[r] = choleskySolve(l, rhs);
        }
        return out;
    }

    /** Lower-triangular L with {@code a = L L^T}, or {@code null} if {@code a} is not positive definite. */
    static double[][] cholesky(double[][] a) {
        int n = a.length;
        double[][] l = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                double s = a[i][j];
                double[] li = l[i];
                double[] lj = l[j];
                for (int t = 0; t < j; t++) {
                    s -= li[t] * lj[t];
                }
                if (i == j) {
                    if (!(s > 0) || !Double.isFinite(s)) {
                        return null;
                    }
                    li[i] = Math.sqrt(s);
                } else {
                    li[j] = s / lj[j];
                }
            }
        }
        return l;
    }

    static double[] choleskySolve(double[][] l, double[] b) {
        int n = l.length;
        double[] y = new double[n];
        for (int i = 0; i < n; i++) {
            double s = b[i];
            for (int t = 0; t < i; t++) {
                s -= l[i][t] * y[t];
            }
            y[i] = s / l[i][i];
        }
        double[] x = new double[n];
        for (int i = n - 1; i >= 0; i--) {
            double s = y[i];
            for (int t = i + 1; t < n; t++) {
                s -= l[t][i] * x[t];
            }
            x[i] = s / l[i][i];
        }
        return x;
    }

    /** {@code (L L^T)^-1}, symmetric. */
    static double[][] inverseFromCholesky(double[][] l) {
        int n = l.length;
        // L^-1, lower triangular
        double[][] li = new double[n][n];
        for (int i = 0; i < n; i++) {
            li[i][i] = 1 / l[i][i];
            for (int j = 0; j < i; j++) {
                double s = 0;
                for (int t = j; t < i; t++) {
                    s -= l[i][t] * li[t][j];
                }
                li[i][j] = s / l[i][i];
            }
        }
        // (L L^T)^-1 = L^-T L^-1
        double[][] inv = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                double s = 0;
                for (int t = i; t < n; t++) {
                    s += li[t][i] * li[t][j];
                }
                inv[i][j] = s;
                inv[j][i] = s;
            }
        }
        return inv;
    }

    private static double[][] transpose(double[][] a) {
        int n = a.length;
        double[][] t = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                t[j][i] = a[i][j];
            }
        }
        return t;
    }

    /** Prunes {@code count} weights of the whole layer, spread over blocks in proportion, lowest score first. */
    static Selection unstructured(long count, int prunable) {
        return (w, diagonal, start, end, prune) -> {
            long inBlock = Math.round((double) count * end / prunable) - Math.round((double) count * start / prunable);
            int rows = w.length;
            int width = end - start;
            Integer[] order = new Integer[rows * width];
            double[] score = new double[rows * width];
            for (int r = 0; r < rows; r++) {
                for (int j = start; j < end; j++) {
                    int i = r * width + (j - start);
                    order[i] = i;
                    double d = diagonal[j];
                    score[i] = w[r][j] * w[r][j] / (d * d);
                }
            }
            Arrays.sort(order, (a, b) -> Double.compare(score[a], score[b]));
            for (int i = 0; i < inBlock; i++) {
                int idx = order[i];
                prune[idx / width][start + idx % width] = true;
            }
        };
    }

    /** Prunes {@code m - n} of every {@code m} consecutive columns of each row, lowest score first. */
    static Selection nOfM(int n, int m) {
        return new Selection() {
            @Override
            public void choose(double[][] w, double[] diagonal, int start, int end, boolean[][] prune) {
                for (int r = 0; r < w.length; r++) {
                    double[] row = w[r];
                    Integer[] order = new Integer[end - start];
                    for (int i = 0; i < order.length; i++) {
                        order[i] = start + i;
                    }
                    Arrays.sort(order, (a, b) -> Double.compare(row[a] * row[a] / (diagonal[a] * diagonal[a]),
                            row[b] * row[b] / (diagonal[b] * diagonal[b])));
                    for (int i = 0; i < m - n; i++) {
                        prune[r][order[i]] = true;
                    }
                }
            }

            @Override
            public int block() {
                return m; // each group chosen on the weights as updated by the groups before it
            }
        };
    }
}
