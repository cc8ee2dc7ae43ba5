package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.data.InvalidDataException;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformContext;
import io.modelrefinery.api.plugin.TransformResult;
import io.modelrefinery.api.train.Loss;
import io.modelrefinery.api.train.Optimizer;
import io.modelrefinery.api.train.Trainer;
import io.modelrefinery.api.train.TrainingGraph;
import io.modelrefinery.api.train.TrainingMetrics;
import io.modelrefinery.api.train.TrainingOptions;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code finetune=EPOCHS}: gradual magnitude pruning while training {@code finetune} epochs: the
 * {@link PruningSchedule} recomputes the masks (magnitude pruning's selection, with its scope, per-layer
 * overrides and N:M pattern) and keeps them applied; every float initializer trains.
 */
final class FinetunePruning implements PruningStrategy {
    @Override
    public TransformResult prune(PruneJob job) {
        TransformContext context = job.context();
        OnnxModel model = job.model();
        List<WeightLayer> layers = job.layers();
        PrunePattern pattern = job.pattern();
        Params params = job.params();
        Map<String, Double> overrides = job.overrides();
        int epochs = params.get(PruneParams.FINETUNE);
        double target = params.get(PruneParams.SPARSITY);
        double initial = params.get(PruneParams.INITIAL_SPARSITY);
        String step = "prune(finetune=" + epochs + ")";
        if (layers.isEmpty()) {
            throw new InvalidInputException(step + " has no layer to prune");
        }
        Dataset data = context.requireData(DataRole.TRAINING);
        int batchSize;
        try (InferenceSession session = context.inference().open(model)) {
            Datasets.requireFits(data, session.inputs());
            // the model's batch when it fixes one (most exports fix 1), else batch-size
            batchSize = Datasets.batchSize(session.inputs(), params.get(PruneParams.BATCH_SIZE));
        }
        if (data.labels().isEmpty()) {
            throw new InvalidDataException("training data " + data.source()
                    + " has no 'labels' array; " + step + " trains on labels");
        }
        TrainingGraph graph = TrainingGraph.build(model, context.inference().valueTypes(model), Loss.crossEntropy(),
                TrainingOptions.defaults());
        for (WeightLayer layer : layers) {
            if (!graph.parameters().containsKey(layer.weightName)) {
                throw new InvalidInputException("layer '" + layer.name() + "' cannot be pruned while training: its "
                        + "weight '" + layer.weightName + "' does not reach the output '" + graph.output() + "'");
            }
        }
        PruningSchedule.Masks masks = magnitudeMasks(model, layers, pattern, params.get(PruneParams.SCOPE), overrides, initial,
                target);
        long stepsPerEpoch = (data.size() + batchSize - 1) / batchSize;
        double first = pattern.nOfM() ? 1 - (double) pattern.n() / pattern.m() : initial;
        double last = pattern.nOfM() ? first : target;
        PruningSchedule schedule = new PruningSchedule(first, last, epochs * stepsPerEpoch, PruningSchedule.FREQUENCY,
                masks);
        Trainer.Result trained = Trainer.builder(graph, context.inference())
                .optimizer(Optimizer.adam(params.get(PruneParams.LEARNING_RATE))).epochs(epochs).batchSize(batchSize)
                .seed(params.get(PruneParams.SEED)).cancellation(context.cancellation())
                .listener(schedule)
                .listener(TrainingMetrics.progress(context.progress(), epochs, stepsPerEpoch))
                .listener(new Trainer.Listener() {
                    @Override
                    public void afterEpoch(Trainer.EpochStats stats) {
                        context.logger().info("prune {}", stats);
                    }
                })
                .build()
                .fit(data);
        OnnxModel current = trained.model();
        long zeros = 0;
        long total = 0;
        for (WeightLayer layer : layers) {
            for (float v : current.initializer(layer.weightName).orElseThrow().toFloatArray()) {
                zeros += v == 0 ? 1 : 0;
                total++;
            }
        }
        context.logger().info("pruned {} layers to {} zeros of {} weights while training {} epochs", layers.size(),
                zeros, total, epochs);
        return TrainingMetrics.addTo(TransformResult.of(current), trained)
                .withMetric("sparsity", (double) zeros / total)
                .withMetric("pruned-layers", layers.size())
                .withMetric("pruned-weights", zeros)
                .withMetric("mask-updates", schedule.updates().size())
                .withNote(String.format(Locale.ROOT, "pruned from %.0f%% to %.0f%% sparsity while fine-tuning %d "
                        + "epochs on %d samples (%d steps, masks recomputed %d times)", 100 * first, 100 * last,
                        epochs, data.size(), trained.steps(), schedule.updates().size()));
    }

    /**
     * The masks of gradual pruning: magnitude pruning's selection ({@code scope}, N:M) on the
     * current weights. A layer named in {@code overrides} goes from {@code min(initial, its sparsity)} to
     * its sparsity along the same share of the way as the schedule.
     */
    static PruningSchedule.Masks magnitudeMasks(OnnxModel model, List<WeightLayer> layers, PrunePattern pattern, PruneParams.Scope scope,
                                                Map<String, Double> overrides, double initial, double target) {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (WeightLayer layer : layers) {
            shapes.put(layer.weightName, model.initializer(layer.weightName).orElseThrow().shape());
        }
        return (parameters, sparsity) -> {
            double reached = target == initial ? 1 : (sparsity - initial) / (target - initial);
            Map<String, Double> scheduled = new LinkedHashMap<>();
            overrides.forEach((name, s) -> {
                double from = Math.min(initial, s);
                scheduled.put(name, from + (s - from) * reached);
            });
            Map<String, double[][][]> matrices = new LinkedHashMap<>();
            for (WeightLayer layer : layers) {
                matrices.put(layer.weightName, layer.matrix(Tensor.ofFloats(shapes.get(layer.weightName),
                        parameters.get(layer.weightName))));
            }
            Map<String, Long> counts = pattern.nOfM() ? Map.of() : MagnitudePruning.counts(layers, matrices, sparsity, scope, scheduled);
            Map<String, boolean[]> out = new LinkedHashMap<>();
            for (WeightLayer layer : layers) {
                double[][][] m = matrices.get(layer.weightName);
                MagnitudePruning.magnitude(m, pattern, pattern.nOfM() ? 0 : counts.get(layer.weightName));
                float[] pruned = layer.tensor(m).toFloatArray();
                boolean[] keep = new boolean[pruned.length];
                for (int i = 0; i < keep.length; i++) {
                    keep[i] = pruned[i] != 0;
                }
                out.put(layer.weightName, keep);
            }
            return out;
        };
    }
}
