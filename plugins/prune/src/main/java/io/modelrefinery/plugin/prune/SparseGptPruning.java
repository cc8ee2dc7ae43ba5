package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.TransformResult;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code method=sparsegpt}: SparseGPT (Frantar and Alistarh, 2023) with the per-layer sparsity chosen
 * from measured sensitivity. Each layer is pruned in graph order on the outputs of its already pruned
 * predecessors from the layer Hessian {@code X^T X} of its calibration inputs, dampened: by exact optimal
 * brain surgeon steps where the layer is small enough, else by SparseGPT's lazy blocked updates
 * ({@link SparseGptLayer}). For an unstructured pattern the overall sparsity is a budget spread over the
 * layers by their measured sensitivity ({@link SensitivityBudget}); layers named in {@code layer-sparsity}
 * keep theirs, outside the budget. N:M patterns fix every layer's share.
 */
final class SparseGptPruning implements PruningStrategy {
    @Override
    public TransformResult prune(PruneJob job) {
        List<String> byMagnitude = new ArrayList<>();
        if (job.pattern().nOfM()) {
            return ReconstructPruning.withFallbackNote(job.weightsResult(
                    ReconstructPruning.sequential(job, Map.of(), byMagnitude, SparseGptPruning::solve)), byMagnitude);
        }
        Map<String, Long> counts = SensitivityBudget.allocate(job);
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
        return new SparseGptLayer(current, original, layer, pattern, damp, inputs, same).weights(count);
    }
}
