package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.plugin.CommonParams;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.ParamValidator;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformKind;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * {@code prune}'s parameters and descriptor, apart from the pruning itself so that the declarations can
 * change (typed parameters, shared names) without touching the methods.
 */
final class PruneParams {
    /** How pruned weights are chosen. */
    enum Method { MAGNITUDE, RECONSTRUCT, SPARSEGPT }

    /** How {@code sparsity} spreads over the layers, for unstructured pruning. */
    enum Scope { GLOBAL, LAYER }

    static final ParamSpec<Double> SPARSITY = ParamSpec.decimal("sparsity").defaultValue(0.5)
            .validator(ParamValidator.atLeastAndBelow(0, 1))
            .doc("Share of the pruned layers' weights set to zero (unstructured), or of each layer's output "
                    + "channels removed (channel). N:M patterns set their own: (M-N)/M.").build();
    static final ParamSpec<Method> METHOD = ParamSpec.choice("method", Method.class).defaultValue(Method.MAGNITUDE)
            .doc("magnitude: drop the smallest weights; reconstruct: choose and compensate pruned weights on "
                    + "calibration samples (--calibration), layer by layer, bias included; sparsegpt: layer by layer on "
                    + "the pruned predecessors' outputs by exact OBS (SparseGPT's lazy blocks for large layers), a "
                    + "Softmax-fed classifier fitted for its probabilities, each layer's sparsity chosen from its "
                    + "measured sensitivity under the overall sparsity (unstructured).").build();
    static final ParamSpec<PrunePattern> PATTERN = ParamSpec.parsed("pattern", PrunePattern::parse, PrunePattern::toString)
            .accepts("unstructured, channel or N:M such as 2:4 and 4:8").defaultValue(PrunePattern.parse("unstructured"))
            .doc("unstructured; N:M (N weights kept of every M consecutive along the reduction axis, as "
                    + "sparse tensor cores expect: input channels for convolutions); channel (whole output "
                    + "channels removed, with the next layer's inputs).").build();
    static final ParamSpec<Scope> SCOPE = ParamSpec.choice("scope", Scope.class).defaultValue(Scope.LAYER)
            .doc("layer: the same sparsity in each layer; global: one magnitude threshold over all pruned "
                    + "layers, so that layers of small weights lose more. Channel pruning is always per layer; "
                    + "sparsegpt chooses its own spread.").build();
    static final ParamSpec<Map<String, Double>> LAYER_SPARSITY = ParamSpec.map("layer-sparsity", Double::valueOf)
            .defaultValue(Map.of()).validator(ParamValidator.eachValue(ParamValidator.atLeastAndBelow(0, 1)))
            .doc("Per-layer sparsity overriding sparsity, by node or weight name: [/c2/Conv=0.9,fc.weight=0.7].")
            .build();
    static final ParamSpec<List<String>> LAYERS = ParamSpec.list("layers").defaultValue(List.of())
            .doc("Prune only these layers (node or weight names); empty for every Conv, Gemm and MatMul.").build();
    static final ParamSpec<List<String>> EXCLUDE_NODES = CommonParams.excludeNodes().deprecatedAlias("skip")
            .doc("Layers (node or weight names) left dense.").build();
    static final ParamSpec<List<String>> OP_TYPES = CommonParams.opTypes(List.of("Conv", "Gemm", "MatMul"))
            .validator(ParamValidator.eachMatches("Conv|Gemm|MatMul", "Conv, Gemm or MatMul"))
            .doc("Operator types pruned.").build();
    static final ParamSpec<Double> DAMP = ParamSpec.decimal("damp").defaultValue(0.01)
            .validator(ParamValidator.between(1e-6, 10))
            .doc("For reconstruct and sparsegpt: share of the mean input energy added to the Hessian's diagonal.")
            .build();
    static final ParamSpec<Integer> BATCH_SIZE = CommonParams.batchSize(32)
            .validator(ParamValidator.between(1, 4096))
            .doc("For reconstruct and sparsegpt: calibration samples per run; with finetune: training samples "
                    + "per step.").build();
    static final ParamSpec<Integer> MAX_SAMPLES = CommonParams.maxSamples()
            .doc("For reconstruct and sparsegpt: use at most this many samples; 0 for all.").build();

    static final ParamSpec<Integer> FINETUNE = ParamSpec.integer("finetune").defaultValue(0)
            .validator(ParamValidator.between(0, 1000))
            .doc("Epochs of fine-tuning on the training data (--train) while pruning by magnitude, sparsity "
                    + "rising from initial-sparsity to sparsity (polynomial decay, power 3, masks recomputed "
                    + "every 100 steps and applied after each); 0 prunes once, without training.").build();
    static final ParamSpec<Double> INITIAL_SPARSITY = ParamSpec.decimal("initial-sparsity").defaultValue(0.0)
            .validator(ParamValidator.atLeastAndBelow(0, 1))
            .doc("With finetune: sparsity of the first masks, at most sparsity (the final one). Unstructured "
                    + "pattern only.").build();
    static final ParamSpec<Double> LEARNING_RATE = ParamSpec.decimal("learning-rate").defaultValue(0.001)
            .validator(ParamValidator.between(1e-7, 10)).doc("With finetune: Adam's step size.").build();
    static final ParamSpec<Integer> SEED = CommonParams.seed()
            .doc("With finetune: seed of the shuffling; same seed, data and settings give the same weights.").build();

    static final TransformDescriptor DESCRIPTOR = TransformDescriptor.builder("prune")
            .version("1.1.1")
            .kind(TransformKind.COMPRESSOR)
            .accepts(ModelFormat.ONNX)
            .produces(ModelFormat.ONNX)
            .summary("Weight pruning: unstructured, N:M or whole channels, by magnitude or reconstructed on "
                    + "calibration samples (SparseGPT, with sensitivity-chosen layer sparsity), or gradual while "
                    + "fine-tuning on training samples.")
            .param(SPARSITY).param(METHOD).param(PATTERN).param(SCOPE).param(LAYER_SPARSITY).param(LAYERS)
            .param(EXCLUDE_NODES).param(OP_TYPES).param(DAMP).param(BATCH_SIZE).param(MAX_SAMPLES)
            .param(FINETUNE).param(INITIAL_SPARSITY).param(LEARNING_RATE).param(SEED)
            .requiresWhen(DataRole.CALIBRATION, METHOD, Method.RECONSTRUCT)
            .requiresWhen(DataRole.CALIBRATION, METHOD, Method.SPARSEGPT)
            .requiresWhen(DataRole.TRAINING, FINETUNE, epochs -> epochs > 0, "finetune>0")
            // fine-tuning trains: the gradients of MaxPool and others need ScatterElements with a reduction (16)
            .minimumOpsetWhen(16, params -> params.get(FINETUNE) > 0, "finetune>0")
            .check(PruneParams::finetuneConflict)
            .check(PruneParams::sparseGptConflict)
            // unstructured and N:M sparsity zero weights in place; channel pruning changes shapes
            .keepsGraph(params -> !params.get(PATTERN).channel())
            // what auto tries: pruned, then quantized (each recipe runs only when the job has its data)
            .recipe("prune(sparsity=0.5,method=reconstruct),quantize-dynamic")
            .recipe("prune(sparsity=0.7,method=reconstruct),quantize-dynamic")
            .recipe("prune(sparsity=0.8,method=reconstruct),quantize-dynamic")
            // sparsegpt costs minutes where reconstruct costs seconds, but holds accuracy where a model has more
            // classes than the sample (ten-class sample: 60% within 0.25 point, 70% within 0.9)
            .recipe("prune(sparsity=0.6,method=sparsegpt),quantize-dynamic")
            .recipe("prune(sparsity=0.7,method=sparsegpt),quantize-dynamic")
            // the classifier's weights in 4 bits (MatMulNBits, symmetric so pruned zeros stay exact zeros and zip
            // away; float products, so no activation rounding), the convolutions' in 7 (fewer distinct values zip
            // smaller): on the ten-class sample 0.148x the zipped size within 0.30 point, where int8 alone needs
            // 70% sparsity (-0.86 point) for 0.157x
            .recipe("prune(sparsity=0.65,method=sparsegpt),quantize-weights(bits=4,block-size=256,symmetric=true),"
                    + "quantize-dynamic(reduce-range=true)")
            .recipe("prune(sparsity=0.8,initial-sparsity=0.5,finetune=2),quantize-dynamic")
            .build();

    private PruneParams() {
    }

    /** Settings that cannot go with {@code finetune}, refused when the pipeline is read. */
    private static Optional<String> finetuneConflict(Params params) {
        int epochs = params.get(FINETUNE);
        if (epochs == 0) {
            return Optional.empty();
        }
        String step = "prune(finetune=" + epochs + ")";
        PrunePattern pattern = params.get(PATTERN);
        double initial = params.get(INITIAL_SPARSITY);
        double target = params.get(SPARSITY);
        if (pattern.channel()) {
            return Optional.of(step + " prunes weights while training: it takes pattern unstructured or N:M, not channel");
        }
        if (params.get(METHOD) != Method.MAGNITUDE) {
            return Optional.of(step + " prunes by magnitude while training: drop method="
                    + params.get(METHOD).name().toLowerCase(Locale.ROOT));
        }
        if (pattern.nOfM() && initial != 0) {
            return Optional.of("initial-sparsity does not apply to pattern " + params.get(PATTERN) + ", which keeps "
                    + pattern.n() + " of every " + pattern.m() + " weights from the first step");
        }
        if (initial > target) {
            return Optional.of(String.format(Locale.ROOT, "initial-sparsity %s is above sparsity %s: the schedule "
                    + "rises from initial-sparsity to sparsity, the final one", initial, target));
        }
        return Optional.empty();
    }

    /** sparsegpt prunes weights, not channels, and spreads the sparsity itself. */
    private static Optional<String> sparseGptConflict(Params params) {
        if (params.get(METHOD) != Method.SPARSEGPT) {
            return Optional.empty();
        }
        if (params.get(PATTERN).channel()) {
            return Optional.of("method=sparsegpt prunes single weights: pattern channel takes method=magnitude or "
                    + "reconstruct");
        }
        if (params.get(SCOPE) == Scope.GLOBAL) {
            return Optional.of("method=sparsegpt chooses each layer's sparsity from its sensitivity: drop scope=global");
        }
        return Optional.empty();
    }
}
