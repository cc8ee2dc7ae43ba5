package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformContext;
import io.modelrefinery.api.plugin.TransformResult;

import java.util.List;
import java.util.Map;

/**
 * What every pruning method works from: the model, the layers chosen for pruning (in graph order), the
 * pattern and per-layer overrides as parsed, and the calibration stream when the method takes one.
 *
 * @param named layers the user named in {@code layers}: refusals about them are errors, not notes
 * @param inputs calibration samples through the dense and the pruned model; {@code null} for magnitude
 */
record PruneJob(TransformContext context, OnnxModel model, List<WeightLayer> layers, PrunePattern pattern,
                Params params, Map<String, Double> overrides, List<String> named, LayerInputs inputs) {

    /** The sparsity {@code layer} is pruned to: its override, else {@code sparsity}. */
    double sparsityOf(WeightLayer layer) {
        Double override = override(layer, overrides);
        return override != null ? override : params.get(PruneParams.SPARSITY);
    }

    /** {@code layer}'s entry in {@code overrides} (by node or weight name), or {@code null}. */
    static Double override(WeightLayer layer, Map<String, Double> overrides) {
        for (Map.Entry<String, Double> e : overrides.entrySet()) {
            if (layer.named(e.getKey())) {
                return e.getValue();
            }
        }
        return null;
    }

    /** The result of a weight-pruning method: {@code pruned} with its zeros over the pruned layers counted. */
    TransformResult weightsResult(OnnxModel pruned) {
        long zeros = 0;
        long total = 0;
        for (WeightLayer layer : layers) {
            float[] w = pruned.initializer(layer.weightName).orElseThrow().toFloatArray();
            for (float v : w) {
                zeros += v == 0 ? 1 : 0;
            }
            total += w.length;
        }
        context.logger().info("pruned {} layers to {} zeros of {} weights", layers.size(), zeros, total);
        return TransformResult.of(pruned)
                .withMetric("sparsity", total == 0 ? 0 : (double) zeros / total)
                .withMetric("pruned-layers", layers.size())
                .withMetric("pruned-weights", zeros);
    }
}
