package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.TransformResult;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code method=reconstruct}, unstructured or N:M: layer by layer in graph order, each layer's pruned
 * weights chosen and compensated on calibration inputs as the model pruned so far computes them
 * ({@link Reconstructor}); the per-layer counts are magnitude pruning's ({@code scope}, overrides).
 */
final class ReconstructPruning implements PruningStrategy {
    /**
     * Largest reduction size reconstructed: the statistics take about ten {@code K x K} double matrices
     * (320 MiB at this size) and the factorizations {@code K^3} time.
     */
    static final int MAX_COLUMNS = 2048;

    @Override
    public TransformResult prune(PruneJob job) {
        Map<String, Long> counts = job.pattern().nOfM() ? Map.of()
                : MagnitudePruning.counts(job, MagnitudePruning.matrices(job.model(), job.layers()),
                job.params().get(PruneParams.SCOPE));
        List<String> byMagnitude = new ArrayList<>();
        OnnxModel pruned = sequential(job, counts, byMagnitude, (current, original, layer, pattern, count, damp, inputs,
                same) -> solve(statistics(current, original, layer, layer, inputs, same), current, original, layer, layer,
                pattern, count, damp, null));
        return withFallbackNote(job.weightsResult(pruned), byMagnitude);
    }

    /**
     * Prunes the job's layers in graph order, each reconstructed on the inputs of the model pruned so far
     * ({@code counts} weights when unstructured, else the job's N:M pattern), or by magnitude when it
     * cannot be reconstructed; those layers' names go to {@code byMagnitude}.
     */
    static OnnxModel sequential(PruneJob job, Map<String, Long> counts, List<String> byMagnitude, LayerSolver solver) {
        OnnxModel model = job.model();
        PrunePattern pattern = job.pattern();
        double damp = job.params().get(PruneParams.DAMP);
        OnnxModel current = model;
        boolean first = true;
        int done = 0;
        for (WeightLayer layer : job.layers()) {
            job.context().cancellation().throwIfCancelled();
            long count = pattern.nOfM() ? 0 : counts.get(layer.weightName);
            if (!pattern.nOfM() && count == 0) {
                continue;
            }
            if (reconstructible(layer)) {
                current = LayerBias.write(current, layer, solver.solve(current, model, layer, pattern, count, damp,
                        job.inputs(), first), LayerBias.present(layer));
                first = false;
            } else {
                byMagnitude.add(layer.name());
                current = MagnitudePruning.prune(current, layer,
                        layer.matrix(current.initializer(layer.weightName).orElseThrow()), pattern, count);
            }
            job.context().progress().update(++done, job.layers().size(), "pruning layers");
        }
        return current;
    }

    /**
     * Prunes one layer of {@code current} (the same layer of the dense {@code original}) from calibration
     * inputs: the new weights per group and row, bias last.
     *
     * @param same whether nothing before the layer was pruned yet
     */
    @FunctionalInterface
    interface LayerSolver {
        double[][][] solve(OnnxModel current, OnnxModel original, WeightLayer layer, PrunePattern pattern, long count,
                           double damp, LayerInputs inputs, boolean same);
    }

    static TransformResult withFallbackNote(TransformResult result, List<String> byMagnitude) {
        if (byMagnitude.isEmpty()) {
            return result;
        }
        return result.withNote("pruned by magnitude, not reconstructed (reconstruction takes Gemm, MatMul and "
                + "1-D or 2-D convolutions with fewer than " + MAX_COLUMNS + " inputs per output): "
                + String.join(", ", byMagnitude));
    }

    static boolean reconstructible(WeightLayer layer) {
        return InputRows.supported(layer) && layer.columns + 1 <= MAX_COLUMNS;
    }

    /**
     * Reconstructs {@code layer} of {@code current} against {@code denseLayer} of {@code original}: pruned
     * with {@code pattern} ({@code count} weights when unstructured), or only refit when {@code pattern}
     * is {@code null}.
     *
     * @param same whether nothing before the layer was pruned yet (both models feed it the same inputs)
     * @param keptRows for a layer that lost output channels, the original rows it kept; else {@code null}
     */
    static OnnxModel reconstruct(OnnxModel current, OnnxModel original, WeightLayer denseLayer, WeightLayer layer,
                                 PrunePattern pattern, long count, LayerInputs inputs, double damp, boolean same,
                                 int[] keptRows) {
        Reconstructor[] groups = statistics(current, original, denseLayer, layer, inputs, same);
        return LayerBias.write(current, layer, solve(groups, current, original, denseLayer, layer, pattern, count,
                damp, keptRows), LayerBias.present(layer));
    }

    /** One calibration pass: the input statistics of {@code layer}, per group. */
    static Reconstructor[] statistics(OnnxModel current, OnnxModel original, WeightLayer denseLayer, WeightLayer layer,
                                      LayerInputs inputs, boolean same) {
        boolean bias = LayerBias.present(layer);
        int dColumns = denseLayer.columns + (bias ? 1 : 0);
        int pColumns = layer.columns + (bias ? 1 : 0);
        Reconstructor[] groups = new Reconstructor[layer.groups];
        for (int g = 0; g < groups.length; g++) {
            groups[g] = new Reconstructor(dColumns, pColumns, same);
        }
        inputs.stream(original, denseLayer.input, same ? null : current, layer.input, (d, p) ->
                InputRows.forEach(denseLayer, d, layer, p, (g, xd, xp) -> groups[g].add(xd, xp)));
        return groups;
    }

    /** The new weights of every group (bias last when the layer has one), from the statistics. */
    static double[][][] solve(Reconstructor[] groups, OnnxModel current, OnnxModel original, WeightLayer denseLayer,
                              WeightLayer layer, PrunePattern pattern, long count, double damp, int[] keptRows) {
        double[][][] dense = LayerBias.withBias(denseLayer, original);
        double[][][] start = LayerBias.withBias(layer, current);
        double[][][] solved = new double[layer.groups][][];
        long assigned = 0;
        for (int g = 0; g < layer.groups; g++) {
            double[][] target = dense[g];
            if (keptRows != null) {
                target = new double[keptRows.length][];
                for (int r = 0; r < keptRows.length; r++) {
                    target[r] = dense[g][keptRows[r]];
                }
            }
            Reconstructor.Selection selection = null;
            if (pattern != null && pattern.nOfM()) {
                selection = Reconstructor.nOfM(pattern.n(), pattern.m());
            } else if (pattern != null) {
                long share = Math.round((double) count * (g + 1) / layer.groups) - assigned;
                assigned += share;
                selection = Reconstructor.unstructured(share, layer.columns);
            }
            solved[g] = groups[g].solve(target, start[g], layer.columns, selection, damp);
        }
        return solved;
    }
}
