package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.LayerSensitivity.Layer;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformContext;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformResult;
import org.osgi.service.component.annotations.Component;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code prune}: zeroes weights of Conv, Gemm and MatMul layers (unstructured or N:M), or removes whole
 * output channels. This class chooses the layers and the method; each method is a {@link PruningStrategy}:
 * {@link MagnitudePruning} drops the smallest weights, {@link ReconstructPruning} and
 * {@link SparseGptPruning} choose and compensate them on calibration samples layer by layer (far more
 * accuracy without any training), {@link ChannelPruning} removes channels and {@link FinetunePruning}
 * prunes while training. Parameters are declared in {@link PruneParams}.
 */
@Component(service = ModelTransform.class)
public final class PruneTransform implements ModelTransform {
    @Override
    public TransformDescriptor descriptor() {
        return PruneParams.DESCRIPTOR;
    }

    @Override
    public TransformResult apply(TransformContext context, ModelArtifact input, Params params) {
        OnnxModel model = input.onnxModel();
        PrunePattern pattern = params.get(PruneParams.PATTERN);
        List<String> opTypes = params.get(PruneParams.OP_TYPES);
        List<WeightLayer> all = WeightLayer.find(model, new HashSet<>(opTypes));
        Map<String, Double> overrides = params.get(PruneParams.LAYER_SPARSITY);
        List<String> only = params.get(PruneParams.LAYERS);
        List<String> skip = params.get(PruneParams.EXCLUDE_NODES);
        List<String> named = new ArrayList<>(overrides.keySet());
        named.addAll(only);
        named.addAll(skip);
        for (String name : named) {
            if (all.stream().noneMatch(l -> l.named(name))) {
                throw new InvalidInputException("layer '" + name + "' is not a " + String.join(", ", opTypes)
                        + " layer with a constant weight (prunable: " + String.join(", ", all.stream()
                        .map(WeightLayer::name).toList()) + ")");
            }
        }
        if (pattern.nOfM() && !overrides.isEmpty()) {
            throw new InvalidInputException("layer-sparsity does not apply to pattern " + params.get(PruneParams.PATTERN)
                    + ", which keeps " + pattern.n() + " of every " + pattern.m() + " weights in each layer");
        }
        List<WeightLayer> layers = new ArrayList<>();
        List<String> dense = new ArrayList<>();
        for (WeightLayer layer : all) {
            if (skip.stream().anyMatch(layer::named) || (!only.isEmpty() && only.stream().noneMatch(layer::named))) {
                continue;
            }
            if (pattern.nOfM() && !layer.divisibleBy(pattern.m())) {
                if (only.stream().anyMatch(layer::named)) {
                    throw new InvalidInputException("layer '" + layer.name() + "' cannot take pattern "
                            + params.get(PruneParams.PATTERN) + ": its reduction size " + layer.channelsPerGroup + " ("
                            + (layer.kind == WeightLayer.Kind.CONV ? "input channels per group" : "K")
                            + ") is not a multiple of " + pattern.m());
                }
                dense.add(layer.name());
                continue;
            }
            layers.add(layer);
        }
        if (params.get(PruneParams.FINETUNE) > 0) {
            PruneJob job = new PruneJob(context, model, layers, pattern, params, overrides, only, null);
            return withSensitivity(job, withDenseNote(new FinetunePruning().prune(job), dense, pattern));
        }
        PruneParams.Method method = params.get(PruneParams.METHOD);
        LayerInputs inputs = null;
        if (method != PruneParams.Method.MAGNITUDE) {
            Dataset data = context.requireData(DataRole.CALIBRATION);
            inputs = new LayerInputs(context.inference(), data, params.get(PruneParams.BATCH_SIZE),
                    params.get(PruneParams.MAX_SAMPLES), context.cancellation());
        }
        PruneJob job = new PruneJob(context, model, layers, pattern, params, overrides, only, inputs);
        TransformResult result = strategy(pattern, method).prune(job);
        if (all.isEmpty()) {
            result = result.withNote("nothing to prune: no " + String.join(", ", opTypes)
                    + " layer with a constant float weight");
        }
        result = withDenseNote(result, dense, pattern);
        if (inputs != null) {
            result = result.withMetric("calibration-samples", inputs.samples());
        }
        return pattern.channel() ? result : withSensitivity(job, result);
    }

    private static PruningStrategy strategy(PrunePattern pattern, PruneParams.Method method) {
        if (pattern.channel()) {
            return new ChannelPruning();
        }
        switch (method) {
            case RECONSTRUCT:
                return new ReconstructPruning();
            case SPARSEGPT:
                return new SparseGptPruning();
            default:
                return new MagnitudePruning();
        }
    }

    /**
     * {@code result} with each pruned layer's own output SQNR ({@link LayerSensitivity}), measured on the
     * calibration samples, else the evaluation ones; as it is when there are neither.
     */
    private static TransformResult withSensitivity(PruneJob job, TransformResult result) {
        TransformContext context = job.context();
        String kind = "calibration";
        Dataset data = context.calibrationData().orElse(null);
        if (data == null) {
            kind = "evaluation";
            data = context.evaluationData().orElse(null);
        }
        if (data == null || job.layers().isEmpty()) {
            return result;
        }
        LayerInputs samples = job.inputs() != null ? job.inputs() : new LayerInputs(context.inference(), data,
                job.params().get(PruneParams.BATCH_SIZE), job.params().get(PruneParams.MAX_SAMPLES), context.cancellation());
        List<Layer> layers = LayerSensitivity.measure(job.model(), result.output().onnxModel(),
                job.layers(), samples);
        return LayerSensitivity.report(result, layers, samples.samples(), kind);
    }

    private static TransformResult withDenseNote(TransformResult result, List<String> dense, PrunePattern pattern) {
        if (!dense.isEmpty()) {
            result = result.withNote("left dense, reduction size not a multiple of " + pattern.m() + ": "
                    + String.join(", ", dense));
        }
        return result.withMetric("dense-layers", dense.size());
    }
}
