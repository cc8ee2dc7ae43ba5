package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.TransformResult;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code method=magnitude}, unstructured or N:M: the smallest weights of each layer (or of all, scope=global) go. */
final class MagnitudePruning implements PruningStrategy {
    @Override
    public TransformResult prune(PruneJob job) {
        OnnxModel model = job.model();
        PrunePattern pattern = job.pattern();
        Map<String, double[][][]> matrices = matrices(model, job.layers());
        Map<String, Long> counts = pattern.nOfM() ? Map.of() : counts(job, matrices, job.params().get(PruneParams.SCOPE));
        OnnxModel current = model;
        int done = 0;
        for (WeightLayer layer : job.layers()) {
            job.context().cancellation().throwIfCancelled();
            long count = pattern.nOfM() ? 0 : counts.get(layer.weightName);
            if (!pattern.nOfM() && count == 0) {
                continue;
            }
            current = prune(current, layer, matrices.get(layer.weightName), pattern, count);
            job.context().progress().update(++done, job.layers().size(), "pruning layers");
        }
        return job.weightsResult(current);
    }

    /** {@code model} with {@code layer}'s weights {@code m} pruned by magnitude. */
    static OnnxModel prune(OnnxModel model, WeightLayer layer, double[][][] m, PrunePattern pattern, long count) {
        magnitude(m, pattern, count);
        return model.withGraph(GraphEditor.of(model.graph()).putInitializer(layer.tensor(m).toProto(layer.weightName))
                .build());
    }

    static Map<String, double[][][]> matrices(OnnxModel model, List<WeightLayer> layers) {
        Map<String, double[][][]> matrices = new LinkedHashMap<>();
        for (WeightLayer layer : layers) {
            matrices.put(layer.weightName, layer.matrix(model.initializer(layer.weightName).orElseThrow()));
        }
        return matrices;
    }

    static Map<String, Long> counts(PruneJob job, Map<String, double[][][]> matrices, PruneParams.Scope scope) {
        return counts(job.layers(), matrices, job.params().get(PruneParams.SPARSITY), scope, job.overrides());
    }

    /**
     * Weights to prune per layer: with a global scope, the layers outside {@code overrides} share one
     * magnitude threshold (exactly {@code round(sparsity * their weights)} in all).
     *
     * @throws InvalidInputException if a layer would lose every weight
     */
    static Map<String, Long> counts(List<WeightLayer> layers, Map<String, double[][][]> matrices,
                                    double sparsity, PruneParams.Scope scope, Map<String, Double> overrides) {
        Map<String, Long> counts = new LinkedHashMap<>();
        List<WeightLayer> pool = new ArrayList<>();
        for (WeightLayer layer : layers) {
            Double override = PruneJob.override(layer, overrides);
            if (scope == PruneParams.Scope.GLOBAL && override == null) {
                pool.add(layer);
            } else {
                counts.put(layer.weightName, Math.round((override != null ? override : sparsity) * layer.weightCount()));
            }
        }
        if (!pool.isEmpty()) {
            long total = pool.stream().mapToLong(WeightLayer::weightCount).sum();
            double[] magnitudes = new double[(int) total];
            int[] owner = new int[(int) total];
            int i = 0;
            for (int l = 0; l < pool.size(); l++) {
                for (double[][] group : matrices.get(pool.get(l).weightName)) {
                    for (double[] row : group) {
                        for (double w : row) {
                            magnitudes[i] = Math.abs(w);
                            owner[i++] = l;
                        }
                    }
                }
            }
            Integer[] order = sortedIndices(magnitudes);
            long k = Math.round(sparsity * total);
            long[] perLayer = new long[pool.size()];
            for (int j = 0; j < k; j++) {
                perLayer[owner[order[j]]]++;
            }
            for (int l = 0; l < pool.size(); l++) {
                counts.put(pool.get(l).weightName, perLayer[l]);
            }
        }
        for (WeightLayer layer : layers) {
            if (counts.get(layer.weightName) >= layer.weightCount()) {
                throw new InvalidInputException("pruning would remove every weight of layer '" + layer.name()
                        + "': lower its sparsity, skip it, or use scope=layer");
            }
        }
        return counts;
    }

    static Integer[] sortedIndices(double[] values) {
        Integer[] order = new Integer[values.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Double.compare(values[a], values[b]));
        return order;
    }

    /** Zeroes the {@code count} smallest weights of {@code m}, or all but the N largest of every M. */
    static void magnitude(double[][][] m, PrunePattern pattern, long count) {
        if (pattern.nOfM()) {
            for (double[][] group : m) {
                for (double[] row : group) {
                    for (int start = 0; start < row.length; start += pattern.m()) {
                        double[] block = Arrays.copyOfRange(row, start, start + pattern.m());
                        for (int i = 0; i < block.length; i++) {
                            block[i] = Math.abs(block[i]);
                        }
                        Integer[] order = sortedIndices(block);
                        for (int i = 0; i < pattern.m() - pattern.n(); i++) {
                            row[start + order[i]] = 0;
                        }
                    }
                }
            }
            return;
        }
        int rows = m[0].length;
        int cols = m[0][0].length;
        double[] flat = new double[m.length * rows * cols];
        for (int g = 0; g < m.length; g++) {
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < cols; j++) {
                    flat[(g * rows + r) * cols + j] = Math.abs(m[g][r][j]);
                }
            }
        }
        Integer[] order = sortedIndices(flat);
        for (int i = 0; i < count; i++) {
            int idx = order[i];
            m[idx / (rows * cols)][(idx / cols) % rows][idx % cols] = 0;
        }
    }
}
