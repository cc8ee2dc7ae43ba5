package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.plugin.TransformResult;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code pattern=channel}: removes each layer's weakest output channels with the next layers' inputs
 * ({@link ChannelPruner}); with calibration samples ({@code method=reconstruct}), every layer whose
 * inputs or outputs changed is then refit on the pruned model's inputs.
 */
final class ChannelPruning implements PruningStrategy {
    @Override
    public TransformResult prune(PruneJob job) {
        OnnxModel model = job.model();
        Map<String, TensorInfo> types = job.context().inference().valueTypes(model);
        OnnxModel current = model;
        List<String> kept = new ArrayList<>();
        Map<String, int[]> keptRows = new LinkedHashMap<>();
        Set<String> readers = new LinkedHashSet<>();
        long removedChannels = 0;
        long channels = 0;
        for (WeightLayer original : job.layers()) {
            job.context().cancellation().throwIfCancelled(); // one layer at a time, as the other methods do
            WeightLayer layer = find(current, original);
            int remove = (int) Math.round(job.sparsityOf(layer) * layer.outputs());
            if (remove == 0) {
                continue;
            }
            ChannelPruner pruner = new ChannelPruner(current, types);
            Object plan = pruner.plan(layer);
            if (plan instanceof String reason) {
                if (job.overrides().keySet().stream().anyMatch(layer::named) || job.named().stream().anyMatch(layer::named)) {
                    throw new InvalidInputException("cannot remove channels of layer '" + layer.name() + "': " + reason);
                }
                kept.add(layer.name() + " (" + reason + ")");
                continue;
            }
            if (remove >= layer.outputs()) {
                throw new InvalidInputException("pruning would remove every output channel of layer '" + layer.name()
                        + "': lower its sparsity or skip it");
            }
            Integer[] order = ChannelPruner.rank(layer, layer.matrix(current.initializer(layer.weightName).orElseThrow()));
            int[] keep = Arrays.stream(order, remove, order.length).mapToInt(Integer::intValue).sorted().toArray();
            ChannelPruner.Plan p = (ChannelPruner.Plan) plan;
            current = pruner.apply(p, keep, true);
            int[] before = keptRows.get(layer.weightName);
            keptRows.put(layer.weightName, before == null ? keep
                    : Arrays.stream(keep).map(i -> before[i]).toArray());
            p.readers().forEach(r -> readers.add(r.layer().weightName));
            removedChannels += remove;
            channels += layer.outputs();
        }
        if (job.inputs() != null) {
            // refit every layer whose inputs or outputs changed, in graph order, on the pruned model's inputs
            List<WeightLayer> dense = WeightLayer.find(model, Set.of("Conv", "Gemm", "MatMul"));
            for (WeightLayer original : dense) {
                job.context().cancellation().throwIfCancelled();
                if (!readers.contains(original.weightName) && !keptRows.containsKey(original.weightName)) {
                    continue;
                }
                WeightLayer layer = find(current, original);
                if (!ReconstructPruning.reconstructible(layer) || layer.groups != 1) {
                    continue;
                }
                current = ReconstructPruning.reconstruct(current, model, original, layer, null, 0, job.inputs(),
                        job.params().get(PruneParams.DAMP), false, keptRows.get(original.weightName));
            }
        }
        TransformResult result = TransformResult.of(current)
                .withMetric("sparsity", channels == 0 ? 0 : (double) removedChannels / channels)
                .withMetric("removed-channels", removedChannels)
                .withMetric("parameters-before", model.parameterCount())
                .withMetric("parameters-after", current.parameterCount());
        if (!kept.isEmpty()) {
            result = result.withNote("channels kept: " + String.join("; ", kept));
        }
        job.context().logger().info("removed {} of {} channels", removedChannels, channels);
        return result;
    }

    /** {@code original}'s layer as it stands in {@code current}, whose shapes pruning changed. */
    private static WeightLayer find(OnnxModel current, WeightLayer original) {
        return WeightLayer.find(current, Set.of(original.node.getOpType())).stream()
                .filter(l -> l.weightName.equals(original.weightName)).findFirst().orElseThrow();
    }
}
