package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.plugin.TransformResult;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code method=sparsegpt}: SparseGPT (Frantar and Alistarh, 2023) with the per-layer sparsity chosen
 * from measured sensitivity. Each layer is pruned in graph order on the outputs of its already pruned
 * predecessors by the optimal brain surgeon update with the layer Hessian {@code X^T X} of calibration
 * inputs, dampened, in lazy blocks ({@link Reconstructor}). For an unstructured pattern the overall
 * sparsity is a budget: each layer is first pruned alone to each of {@link #LEVELS} on the dense model's
 * inputs and the model output's noise-to-signal ratio measured on the calibration samples; the layers'
 * sparsities are then the cheapest mix, by that measure, that prunes {@code sparsity} of all their weights
 * (a greedy walk along each layer's convex cost curve, which assumes the layers' errors add up). Layers
 * named in {@code layer-sparsity} keep theirs, outside the budget. N:M patterns fix every layer's share.
 */
final class SparseGptPruning implements PruningStrategy {
    /** Sparsities each layer is tried at to measure its sensitivity. */
    static final double[] LEVELS = {0.25, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97};
    /** Calibration samples the sensitivity is measured on: the first of them, enough to rank layers. */
    static final int SENSITIVITY_SAMPLES = 256;

    @Override
    public TransformResult prune(PruneJob job) {
        List<String> byMagnitude = new ArrayList<>();
        if (job.pattern().nOfM()) {
            return ReconstructPruning.withFallbackNote(job.weightsResult(
                    ReconstructPruning.sequential(job, Map.of(), byMagnitude, SparseGptPruning::solve)), byMagnitude);
        }
        Map<String, Long> counts = allocate(job);
        OnnxModel pruned = ReconstructPruning.sequential(job, counts, byMagnitude, SparseGptPruning::solve);
        TransformResult result = ReconstructPruning.withFallbackNote(job.weightsResult(pruned), byMagnitude);
        List<String> spread = new ArrayList<>();
        for (WeightLayer layer : job.layers()) {
            double share = (double) counts.get(layer.weightName) / layer.weightCount();
            result = result.withMetric("layer-sparsity:" + layer.name(), share);
            spread.add(String.format(Locale.ROOT, "%s %.1f%%", layer.name(), 100 * share));
        }
        return result.withNote("layer sparsity chosen from measured sensitivity: " + String.join(", ", spread));
    }

    /** One layer pruned from calibration inputs: exact OBS where it is small enough, else SparseGPT's lazy blocks. */
    static double[][][] solve(OnnxModel current, OnnxModel original, WeightLayer layer, PrunePattern pattern, long count,
                              double damp, LayerInputs inputs, boolean same) {
        return new LayerPruner(current, original, layer, pattern, damp, inputs, same).weights(count);
    }

    /**
     * A layer's groups ready to prune to any count: the exact pruner's steps recorded once, so that the
     * sensitivity levels cost one pass and one factorization per layer. A layer whose output goes straight
     * into a Softmax (the classifier) is fitted for the probabilities rather than the logits: each output
     * row gets its own statistics, every sample weighted by that class's {@code p (1 - p)} under the dense
     * model (the diagonal of the softmax's Fisher information) plus a floor, so that the weights kept are
     * those that decide the close calls rather than those that move logits the softmax ignores. Only with
     * enough calibration samples ({@link #MIN_SAMPLES_PER_INPUT}).
     */
    private static final class LayerPruner {
        /** Share of the largest Fisher weight every sample keeps: confident samples still count. */
        static final double FLOOR = 0.02;
        /**
         * Calibration samples per layer input the weighting needs: it leans on the few uncertain samples,
         * and with fewer its statistics fit the calibration set rather than the task (on the ten-class
         * model: 1.5 points lost at 80% with 512 samples for 601 inputs, 0.5 won with 1,024, 1 with 4,096).
         * Below it the layer is fitted by plain least squares.
         */
        static final double MIN_SAMPLES_PER_INPUT = 1.5;

        private final Reconstructor[] groups;
        private final OnnxModel current;
        private final OnnxModel original;
        private final WeightLayer layer;
        private final PrunePattern pattern;
        private final double damp;
        private final ObsPruner[] exact;

        LayerPruner(OnnxModel current, OnnxModel original, WeightLayer layer, PrunePattern pattern, double damp,
                    LayerInputs inputs, boolean same) {
            this.current = current;
            this.original = original;
            this.layer = layer;
            this.pattern = pattern;
            this.damp = damp;
            long k = layer.columns + 1L;
            boolean small = (long) layer.rows * k * k <= ObsPruner.MAX_ENTRIES;
            double[][][] dense = LayerBias.withBias(layer, original);
            double[][][] start = LayerBias.withBias(layer, current);
            if (small && layer.groups == 1 && feedsSoftmax(original, layer)
                    && inputs.available() >= MIN_SAMPLES_PER_INPUT * (layer.columns + 1)) {
                groups = fisherStatistics(current, original, layer, inputs, same, dense[0]);
                exact = new ObsPruner[layer.rows];
                for (int r = 0; r < layer.rows; r++) {
                    exact[r] = new ObsPruner(groups[r].prepare(new double[][] {dense[0][r]},
                            new double[][] {start[0][r]}, damp), layer.columns, pattern.n(), pattern.m());
                }
            } else if (small) {
                groups = ReconstructPruning.statistics(current, original, layer, layer, inputs, same);
                exact = new ObsPruner[layer.groups];
                for (int g = 0; g < exact.length; g++) {
                    exact[g] = new ObsPruner(groups[g].prepare(dense[g], start[g], damp), layer.columns, pattern.n(),
                            pattern.m());
                }
            } else {
                groups = ReconstructPruning.statistics(current, original, layer, layer, inputs, same);
                exact = null;
            }
        }

        double[][][] weights(long count) {
            if (exact == null) {
                return ReconstructPruning.solve(groups, current, original, layer, layer, pattern, count, damp, null);
            }
            if (exact.length != layer.groups) { // one pruner per row: the count spread over all of them
                double[][] rows = pattern.nOfM() ? ObsPruner.all(exact) : ObsPruner.weights(exact, count);
                return new double[][][] {rows};
            }
            double[][][] out = new double[exact.length][][];
            long assigned = 0;
            for (int g = 0; g < exact.length; g++) {
                long share = Math.round((double) count * (g + 1) / exact.length) - assigned;
                assigned += share;
                out[g] = pattern.nOfM() ? exact[g].all() : exact[g].weights(share);
            }
            return out;
        }

        private static boolean feedsSoftmax(OnnxModel model, WeightLayer layer) {
            if (layer.kind == WeightLayer.Kind.CONV) {
                return false;
            }
            var readers = io.modelrefinery.api.onnx.GraphIndex.of(model.graph()).consumers(layer.node.getOutput(0));
            if (readers.size() != 1) {
                return false;
            }
            var node = readers.get(0);
            long axis = io.modelrefinery.api.onnx.OnnxHelper.getInt(node, "axis", -1);
            return (node.getOpType().equals("Softmax") || node.getOpType().equals("LogSoftmax"))
                    && node.getDomain().isEmpty() && (axis == -1 || axis == 1);
        }

        /** Per output row, input statistics with each sample weighted by the dense softmax's {@code p (1 - p)}. */
        private static Reconstructor[] fisherStatistics(OnnxModel current, OnnxModel original, WeightLayer layer,
                                                        LayerInputs inputs, boolean same, double[][] dense) {
            boolean bias = LayerBias.present(layer);
            int columns = layer.columns + (bias ? 1 : 0);
            Reconstructor[] rows = new Reconstructor[layer.rows];
            for (int r = 0; r < rows.length; r++) {
                rows[r] = new Reconstructor(columns, columns, same);
            }
            double alpha = layer.kind == WeightLayer.Kind.GEMM
                    ? io.modelrefinery.api.onnx.OnnxHelper.getFloat(layer.node, "alpha", 1f) : 1;
            double[] logits = new double[layer.rows];
            inputs.stream(original, layer.input, same ? null : current, layer.input, (d, p) ->
                    InputRows.forEach(layer, d, layer, p, (g, xd, xp) -> {
                        double max = Double.NEGATIVE_INFINITY;
                        for (int r = 0; r < logits.length; r++) {
                            double z = 0;
                            for (int j = 0; j < columns; j++) {
                                z += dense[r][j] * xd[j];
                            }
                            logits[r] = alpha * z;
                            max = Math.max(max, logits[r]);
                        }
                        double sum = 0;
                        for (int r = 0; r < logits.length; r++) {
                            logits[r] = Math.exp(logits[r] - max);
                            sum += logits[r];
                        }
                        for (int r = 0; r < logits.length; r++) {
                            double prob = logits[r] / sum;
                            rows[r].add(xd, xp, prob * (1 - prob) + FLOOR * 0.25);
                        }
                    }));
            return rows;
        }
    }

    /** Weights to prune per layer: overrides as given, the others sharing the budget by sensitivity. */
    static Map<String, Long> allocate(PruneJob job) {
        Map<String, Long> counts = new LinkedHashMap<>();
        List<WeightLayer> pool = new ArrayList<>();
        for (WeightLayer layer : job.layers()) {
            if (job.overrides().keySet().stream().anyMatch(layer::named)) {
                counts.put(layer.weightName, Math.round(job.sparsityOf(layer) * layer.weightCount()));
            } else {
                pool.add(layer);
            }
        }
        double sparsity = job.params().get(PruneParams.SPARSITY);
        long budget = Math.round(sparsity * pool.stream().mapToLong(WeightLayer::weightCount).sum());
        if (!pool.isEmpty() && budget > 0) {
            List<Curve> curves = new ArrayList<>();
            OutputNoise noise = new OutputNoise(job);
            for (WeightLayer layer : pool) {
                curves.add(measure(job, layer, noise));
            }
            long[] chosen = spend(curves, budget);
            for (int l = 0; l < pool.size(); l++) {
                counts.put(pool.get(l).weightName, chosen[l]);
            }
        } else {
            pool.forEach(l -> counts.put(l.weightName, 0L));
        }
        for (WeightLayer layer : job.layers()) {
            if (counts.get(layer.weightName) >= layer.weightCount()) {
                throw new InvalidInputException("pruning would remove every weight of layer '" + layer.name()
                        + "': lower its sparsity or skip it");
            }
        }
        return counts;
    }

    /** A layer's cost of pruning {@code counts[i]} weights: the model output's noise-to-signal ratio. */
    record Curve(long weights, long[] counts, double[] cost) {
    }

    /** Prunes {@code layer} alone to each level, on the dense model's inputs, and measures the output's noise. */
    private static Curve measure(PruneJob job, WeightLayer layer, OutputNoise noise) {
        OnnxModel model = job.model();
        double damp = job.params().get(PruneParams.DAMP);
        LayerPruner pruner = ReconstructPruning.reconstructible(layer)
                ? new LayerPruner(model, model, layer, job.pattern(), damp, job.inputs(), true) : null;
        List<Long> counts = new ArrayList<>();
        List<Double> costs = new ArrayList<>();
        counts.add(0L);
        costs.add(0.0);
        for (double level : LEVELS) {
            job.context().cancellation().throwIfCancelled();
            long count = Math.round(level * layer.weightCount());
            if (count <= counts.get(counts.size() - 1) || count >= layer.weightCount()) {
                continue;
            }
            OnnxModel pruned;
            if (pruner != null) {
                pruned = LayerBias.write(model, layer, pruner.weights(count), LayerBias.present(layer));
            } else {
                pruned = MagnitudePruning.prune(model, layer, layer.matrix(model.initializer(layer.weightName)
                        .orElseThrow()), job.pattern(), count);
            }
            counts.add(count);
            costs.add(noise.of(pruned));
        }
        job.context().logger().info("sensitivity of {}: {} at {}", layer.name(), costs, counts);
        return new Curve(layer.weightCount(), counts.stream().mapToLong(Long::longValue).toArray(),
                costs.stream().mapToDouble(Double::doubleValue).toArray());
    }

    /**
     * Spends {@code budget} pruned weights over the layers, cheapest first: on each layer's lower convex
     * hull the next segment with the least cost per weight is taken, the last one in part. Beyond every
     * measured level the rest goes to the layers in proportion to their remaining weights.
     */
    static long[] spend(List<Curve> curves, long budget) {
        int layers = curves.size();
        List<long[]> hullCounts = new ArrayList<>();
        List<double[]> hullCosts = new ArrayList<>();
        for (Curve curve : curves) {
            List<Integer> hull = lowerHull(curve);
            hullCounts.add(hull.stream().mapToLong(i -> curve.counts()[i]).toArray());
            hullCosts.add(hull.stream().mapToDouble(i -> curve.cost()[i]).toArray());
        }
        long[] chosen = new long[layers];
        int[] at = new int[layers];
        long left = budget;
        while (left > 0) {
            int best = -1;
            double bestSlope = Double.POSITIVE_INFINITY;
            for (int l = 0; l < layers; l++) {
                long[] c = hullCounts.get(l);
                if (at[l] + 1 >= c.length) {
                    continue;
                }
                double[] d = hullCosts.get(l);
                double slope = (d[at[l] + 1] - d[at[l]]) / (c[at[l] + 1] - c[at[l]]);
                if (slope < bestSlope) {
                    bestSlope = slope;
                    best = l;
                }
            }
            if (best < 0) {
                break;
            }
            long[] c = hullCounts.get(best);
            long step = Math.min(left, c[at[best] + 1] - chosen[best]);
            chosen[best] += step;
            left -= step;
            at[best]++;
        }
        // past every measured level (sparsity above the last): the rest in proportion to what each layer keeps
        long room = 0;
        for (int l = 0; l < layers; l++) {
            room += curves.get(l).weights() - 1 - chosen[l];
        }
        long spare = left;
        for (int l = 0; l < layers && left > 0; l++) {
            long max = curves.get(l).weights() - 1 - chosen[l];
            long add = Math.min(left, Math.min(max, (long) Math.ceil((double) spare * max / Math.max(room, 1))));
            chosen[l] += add;
            left -= add;
        }
        return chosen;
    }

    /** Indices of the points on the lower convex hull of a curve, from the first to the last point. */
    private static List<Integer> lowerHull(Curve curve) {
        List<Integer> hull = new ArrayList<>();
        long[] x = curve.counts();
        double[] y = curve.cost();
        for (int i = 0; i < x.length; i++) {
            // costs only grow with sparsity: a lower one measured further on is noise of the samples
            while (hull.size() >= 2) {
                int a = hull.get(hull.size() - 2);
                int b = hull.get(hull.size() - 1);
                double cross = (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (double) (x[i] - x[a]);
                if (cross <= 0) {
                    hull.remove(hull.size() - 1);
                } else {
                    break;
                }
            }
            hull.add(i);
        }
        return hull;
    }

    /** The noise-to-signal ratio of a model's outputs against the dense model's, on the first calibration samples. */
    private static final class OutputNoise {
        private final PruneJob job;
        private final List<String> outputs;
        private final List<float[]> dense = new ArrayList<>();
        private double signal;

        OutputNoise(PruneJob job) {
            this.job = job;
            this.outputs = job.model().graph().getOutputList().stream().map(v -> v.getName()).toList();
            job.inputs().run(job.model(), outputs, SENSITIVITY_SAMPLES, values -> {
                for (String name : outputs) {
                    float[] v = values.get(name).toFloatArray();
                    dense.add(v);
                    for (float f : v) {
                        signal += (double) f * f;
                    }
                }
            });
        }

        double of(OnnxModel model) {
            double[] noise = new double[1];
            int[] next = new int[1];
            job.inputs().run(model, outputs, SENSITIVITY_SAMPLES, values -> {
                for (String name : outputs) {
                    float[] d = dense.get(next[0]++);
                    Tensor t = values.get(name);
                    float[] v = t.toFloatArray();
                    for (int i = 0; i < v.length; i++) {
                        double e = v[i] - d[i];
                        noise[0] += e * e;
                    }
                }
            });
            return noise[0] / Math.max(signal, Double.MIN_NORMAL);
        }
    }
}
