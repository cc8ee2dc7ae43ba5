package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * sparsegpt's per-layer sparsity under the overall budget: each layer is pruned alone to each of
 * {@link #LEVELS} on the dense model's inputs and the model output's noise-to-signal ratio measured on the
 * first calibration samples; the budget then goes where it costs least (a greedy walk along each layer's
 * convex cost curve, which assumes the layers' errors add up).
 */
final class SensitivityBudget {
    /** Sparsities each layer is tried at to measure its sensitivity. */
    static final double[] LEVELS = {0.25, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97};
    /** Calibration samples the sensitivity is measured on: the first of them, enough to rank layers. */
    static final int SENSITIVITY_SAMPLES = 256;

    private SensitivityBudget() {
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
        SparseGptLayer pruner = ReconstructPruning.reconstructible(layer)
                ? new SparseGptLayer(model, model, layer, job.pattern(), damp, job.inputs(), true) : null;
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
