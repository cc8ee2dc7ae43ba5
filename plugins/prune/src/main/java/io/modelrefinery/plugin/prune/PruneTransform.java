package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.data.InvalidDataException;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.plugin.CommonParams;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.ParamValidator;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformContext;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformKind;
import io.modelrefinery.api.plugin.TransformResult;
import io.modelrefinery.api.train.Loss;
import io.modelrefinery.api.train.Optimizer;
import io.modelrefinery.api.train.Trainer;
import io.modelrefinery.api.train.TrainingGraph;
import io.modelrefinery.api.train.TrainingMetrics;
import io.modelrefinery.api.train.TrainingOptions;
import org.osgi.service.component.annotations.Component;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * {@code prune}: zeroes weights of Conv, Gemm and MatMul layers (unstructured or N:M), or removes whole
 * output channels. {@code method=magnitude} drops the smallest weights; {@code method=reconstruct} uses
 * calibration samples to choose the weights and to compensate for them layer by layer
 * ({@link Reconstructor}), which keeps far more accuracy without any training.
 */
@Component(service = ModelTransform.class)
public final class PruneTransform implements ModelTransform {
    /** How pruned weights are chosen. */
    public enum Method { MAGNITUDE, RECONSTRUCT }

    /** How {@code sparsity} spreads over the layers, for unstructured pruning. */
    public enum Scope { GLOBAL, LAYER }

    static final ParamSpec<Double> SPARSITY = ParamSpec.decimal("sparsity").defaultValue(0.5)
            .validator(ParamValidator.atLeastAndBelow(0, 1))
            .doc("Share of the pruned layers' weights set to zero (unstructured), or of each layer's output "
                    + "channels removed (channel). N:M patterns set their own: (M-N)/M.").build();
    static final ParamSpec<Method> METHOD = ParamSpec.choice("method", Method.class).defaultValue(Method.MAGNITUDE)
            .doc("magnitude: drop the smallest weights; reconstruct: choose and compensate pruned weights on "
                    + "calibration samples (--calibration), layer by layer, bias included.").build();
    static final ParamSpec<Pattern> PATTERN = ParamSpec.parsed("pattern", Pattern::parse, Pattern::toString)
            .accepts("unstructured, channel or N:M such as 2:4 and 4:8").defaultValue(Pattern.parse("unstructured"))
            .doc("unstructured; N:M (N weights kept of every M consecutive along the reduction axis, as "
                    + "sparse tensor cores expect: input channels for convolutions); channel (whole output "
                    + "channels removed, with the next layer's inputs).").build();
    static final ParamSpec<Scope> SCOPE = ParamSpec.choice("scope", Scope.class).defaultValue(Scope.LAYER)
            .doc("layer: the same sparsity in each layer; global: one magnitude threshold over all pruned "
                    + "layers, so that layers of small weights lose more. Channel pruning is always per layer.").build();
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
            .doc("For reconstruct: share of the mean input energy added to the Hessian's diagonal.").build();
    static final ParamSpec<Integer> BATCH_SIZE = CommonParams.batchSize(32)
            .validator(ParamValidator.between(1, 4096))
            .doc("For reconstruct: calibration samples per run; with finetune: training samples per step.").build();
    static final ParamSpec<Integer> MAX_SAMPLES = CommonParams.maxSamples().doc("For reconstruct: use at most this many samples; 0 for all.")
            .build();

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

    private static final TransformDescriptor DESCRIPTOR = TransformDescriptor.builder("prune")
            .version("1.0.0")
            .kind(TransformKind.COMPRESSOR)
            .accepts(ModelFormat.ONNX)
            .produces(ModelFormat.ONNX)
            .summary("Weight pruning: unstructured, N:M or whole channels, by magnitude or reconstructed on "
                    + "calibration samples, or gradual while fine-tuning on training samples.")
            .param(SPARSITY).param(METHOD).param(PATTERN).param(SCOPE).param(LAYER_SPARSITY).param(LAYERS)
            .param(EXCLUDE_NODES).param(OP_TYPES).param(DAMP).param(BATCH_SIZE).param(MAX_SAMPLES)
            .param(FINETUNE).param(INITIAL_SPARSITY).param(LEARNING_RATE).param(SEED)
            .requiresWhen(DataRole.CALIBRATION, METHOD, Method.RECONSTRUCT)
            .requiresWhen(DataRole.TRAINING, FINETUNE, epochs -> epochs > 0, "finetune>0")
            .check(PruneTransform::finetuneConflict)
            // what auto tries: pruned, then quantized (each recipe runs only when the job has its data)
            .recipe("prune(sparsity=0.5,method=reconstruct),quantize-dynamic")
            .recipe("prune(sparsity=0.7,method=reconstruct),quantize-dynamic")
            .recipe("prune(sparsity=0.8,method=reconstruct),quantize-dynamic")
            .recipe("prune(sparsity=0.8,initial-sparsity=0.5,finetune=2),quantize-dynamic")
            .build();

    @Override
    public TransformDescriptor descriptor() {
        return DESCRIPTOR;
    }

    /**
     * A {@code pattern}: N of M kept, or unstructured ({@code m == 0}), or channel ({@code m < 0}); read
     * when the pipeline is validated, so that {@code pattern=4:2} is refused before the job starts.
     */
    record Pattern(int n, int m) {
        private static final java.util.regex.Pattern N_OF_M = java.util.regex.Pattern.compile("([1-9][0-9]?):([1-9][0-9]?)");

        static Pattern parse(String text) {
            if (text.equals("unstructured")) {
                return new Pattern(0, 0);
            }
            if (text.equals("channel")) {
                return new Pattern(0, -1);
            }
            java.util.regex.Matcher nOfM = N_OF_M.matcher(text);
            if (!nOfM.matches()) {
                throw new IllegalArgumentException("not unstructured, channel or N:M");
            }
            int n = Integer.parseInt(nOfM.group(1));
            int m = Integer.parseInt(nOfM.group(2));
            if (n >= m) {
                throw new IllegalArgumentException("keeps every weight: N must be below M");
            }
            return new Pattern(n, m);
        }

        /** As written in a pipeline. */
        @Override
        public String toString() {
            return m == 0 ? "unstructured" : m < 0 ? "channel" : n + ":" + m;
        }

        boolean nOfM() {
            return m > 0;
        }

        boolean channel() {
            return m < 0;
        }
    }

    @Override
    public TransformResult apply(TransformContext context, ModelArtifact input, Params params) {
        OnnxModel model = input.onnxModel();
        Pattern pattern = params.get(PATTERN);
        Method method = params.get(METHOD);
        Set<String> opTypes = new HashSet<>(params.get(OP_TYPES));
        List<WeightLayer> all = WeightLayer.find(model, opTypes);
        Map<String, Double> overrides = params.get(LAYER_SPARSITY);
        List<String> only = params.get(LAYERS);
        List<String> skip = params.get(EXCLUDE_NODES);
        for (String name : concat(overrides.keySet(), only, skip)) {
            if (all.stream().noneMatch(l -> l.named(name))) {
                throw new InvalidInputException("layer '" + name + "' is not a " + String.join(", ", params.get(OP_TYPES))
                        + " layer with a constant weight (prunable: " + String.join(", ", all.stream()
                        .map(WeightLayer::name).toList()) + ")");
            }
        }
        if (pattern.nOfM() && !overrides.isEmpty()) {
            throw new InvalidInputException("layer-sparsity does not apply to pattern " + params.get(PATTERN)
                    + ", which keeps " + pattern.n() + " of every " + pattern.m() + " weights in each layer");
        }
        List<WeightLayer> layers = new ArrayList<>();
        List<String> dense = new ArrayList<>();
        for (WeightLayer layer : all) {
            if (skip.stream().anyMatch(layer::named)
                    || (!only.isEmpty() && only.stream().noneMatch(layer::named))) {
                continue;
            }
            boolean explicit = only.stream().anyMatch(layer::named);
            if (pattern.nOfM() && !layer.divisibleBy(pattern.m())) {
                if (explicit) {
                    throw new InvalidInputException("layer '" + layer.name() + "' cannot take pattern "
                            + params.get(PATTERN) + ": its reduction size " + layer.channelsPerGroup + " ("
                            + (layer.kind == WeightLayer.Kind.CONV ? "input channels per group" : "K")
                            + ") is not a multiple of " + pattern.m());
                }
                dense.add(layer.name());
                continue;
            }
            layers.add(layer);
        }
        if (params.get(FINETUNE) > 0) {
            TransformResult result = finetune(context, model, layers, pattern, params, overrides);
            if (!dense.isEmpty()) {
                result = result.withNote("left dense, reduction size not a multiple of " + pattern.m() + ": "
                        + String.join(", ", dense));
            }
            return result.withMetric("dense-layers", dense.size());
        }
        Dataset data = null;
        if (method == Method.RECONSTRUCT) {
            data = context.requireData(DataRole.CALIBRATION);
        }
        LayerInputs inputs = data == null ? null : new LayerInputs(context.inference(), data, params.get(BATCH_SIZE),
                params.get(MAX_SAMPLES), context.cancellation());
        TransformResult result;
        if (pattern.channel()) {
            result = channels(context, model, layers, params.get(SPARSITY), overrides, only, inputs, params.get(DAMP));
        } else {
            result = weights(context, model, layers, pattern, params, overrides, inputs);
        }
        if (all.isEmpty()) {
            result = result.withNote("nothing to prune: no " + String.join(", ", params.get(OP_TYPES))
                    + " layer with a constant float weight");
        }
        if (!dense.isEmpty()) {
            result = result.withNote("left dense, reduction size not a multiple of " + pattern.m() + ": "
                    + String.join(", ", dense));
        }
        if (inputs != null) {
            result = result.withMetric("calibration-samples", inputs.samples());
        }
        return result.withMetric("dense-layers", dense.size());
    }

    private static List<String> concat(Set<String> a, List<String> b, List<String> c) {
        List<String> out = new ArrayList<>(a);
        out.addAll(b);
        out.addAll(c);
        return out;
    }

    private static double sparsityOf(WeightLayer layer, double sparsity, Map<String, Double> overrides) {
        for (Map.Entry<String, Double> e : overrides.entrySet()) {
            if (layer.named(e.getKey())) {
                return e.getValue();
            }
        }
        return sparsity;
    }

    // ------------------------------------------------------------------ unstructured and N:M

    private TransformResult weights(TransformContext context, OnnxModel model, List<WeightLayer> layers,
                                    Pattern pattern, Params params, Map<String, Double> overrides, LayerInputs inputs) {
        Map<String, double[][][]> matrices = new LinkedHashMap<>();
        for (WeightLayer layer : layers) {
            matrices.put(layer.weightName, layer.matrix(model.initializer(layer.weightName).orElseThrow()));
        }
        Map<String, Long> counts = pattern.nOfM() ? Map.of()
                : counts(layers, matrices, params.get(SPARSITY), params.get(SCOPE), overrides);
        OnnxModel current = model;
        boolean first = true;
        int done = 0;
        List<String> byMagnitude = new ArrayList<>();
        for (WeightLayer layer : layers) {
            context.cancellation().throwIfCancelled();
            double[][][] m = matrices.get(layer.weightName);
            long count = pattern.nOfM() ? 0 : counts.get(layer.weightName);
            if (!pattern.nOfM() && count == 0) {
                continue;
            }
            if (inputs != null && reconstructible(layer)) {
                current = reconstruct(current, model, layer, layer, pattern, count, inputs, params.get(DAMP), first,
                        null);
                first = false;
            } else {
                if (inputs != null) {
                    byMagnitude.add(layer.name());
                }
                magnitude(m, pattern, count);
                current = current.withGraph(GraphEditor.of(current.graph())
                        .putInitializer(layer.tensor(m).toProto(layer.weightName)).build());
            }
            context.progress().update(++done, layers.size(), "pruning layers");
        }
        long zeros = 0;
        long total = 0;
        for (WeightLayer layer : layers) {
            float[] w = current.initializer(layer.weightName).orElseThrow().toFloatArray();
            for (float v : w) {
                zeros += v == 0 ? 1 : 0;
            }
            total += w.length;
        }
        context.logger().info("pruned {} layers to {} zeros of {} weights", layers.size(), zeros, total);
        TransformResult result = TransformResult.of(current)
                .withMetric("sparsity", total == 0 ? 0 : (double) zeros / total)
                .withMetric("pruned-layers", layers.size())
                .withMetric("pruned-weights", zeros);
        if (!byMagnitude.isEmpty()) {
            result = result.withNote("pruned by magnitude, not reconstructed (reconstruction takes Gemm, MatMul and "
                    + "1-D or 2-D convolutions with fewer than " + MAX_COLUMNS + " inputs per output): "
                    + String.join(", ", byMagnitude));
        }
        return result;
    }

    /**
     * Largest reduction size reconstructed: the statistics take about ten {@code K x K} double matrices
     * (320 MiB at this size) and the factorizations {@code K^3} time.
     */
    static final int MAX_COLUMNS = 2048;

    private static boolean reconstructible(WeightLayer layer) {
        return InputRows.supported(layer) && layer.columns + 1 <= MAX_COLUMNS;
    }

    /**
     * Weights to prune per layer: with a global scope, the layers outside {@code overrides} share one
     * magnitude threshold (exactly {@code round(sparsity * their weights)} in all).
     *
     * @throws InvalidInputException if a layer would lose every weight
     */
    private static Map<String, Long> counts(List<WeightLayer> layers, Map<String, double[][][]> matrices,
                                            double sparsity, Scope scope, Map<String, Double> overrides) {
        Map<String, Long> counts = new LinkedHashMap<>();
        List<WeightLayer> pool = new ArrayList<>();
        for (WeightLayer layer : layers) {
            double s = sparsityOf(layer, sparsity, overrides);
            boolean overridden = overrides.keySet().stream().anyMatch(layer::named);
            if (scope == Scope.GLOBAL && !overridden) {
                pool.add(layer);
            } else {
                counts.put(layer.weightName, Math.round(s * layer.weightCount()));
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

    private static Integer[] sortedIndices(double[] values) {
        Integer[] order = new Integer[values.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Double.compare(values[a], values[b]));
        return order;
    }

    /** Zeroes the {@code count} smallest weights of {@code m}, or all but the N largest of every M. */
    static void magnitude(double[][][] m, Pattern pattern, long count) {
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

    // ------------------------------------------------------------------ pruning while fine-tuning

    /** Settings that cannot go with {@code finetune}, refused when the pipeline is read. */
    private static Optional<String> finetuneConflict(Params params) {
        int epochs = params.get(FINETUNE);
        if (epochs == 0) {
            return Optional.empty();
        }
        String step = "prune(finetune=" + epochs + ")";
        Pattern pattern = params.get(PATTERN);
        double initial = params.get(INITIAL_SPARSITY);
        double target = params.get(SPARSITY);
        if (pattern.channel()) {
            return Optional.of(step + " prunes weights while training: it takes pattern unstructured or N:M, not channel");
        }
        if (params.get(METHOD) == Method.RECONSTRUCT) {
            return Optional.of(step + " prunes by magnitude while training: drop method=reconstruct");
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

    /**
     * Gradual magnitude pruning while training {@code finetune} epochs: the {@link PruningSchedule}
     * recomputes the masks (this transform's own magnitude selection, with its scope, per-layer overrides
     * and N:M pattern) and keeps them applied; every float initializer trains.
     */
    private TransformResult finetune(TransformContext context, OnnxModel model, List<WeightLayer> layers,
                                     Pattern pattern, Params params, Map<String, Double> overrides) {
        int epochs = params.get(FINETUNE);
        double target = params.get(SPARSITY);
        double initial = params.get(INITIAL_SPARSITY);
        String step = "prune(finetune=" + epochs + ")";
        if (layers.isEmpty()) {
            throw new InvalidInputException(step + " has no layer to prune");
        }
        Dataset data = context.requireData(DataRole.TRAINING);
        try (InferenceSession session = context.inference().open(model)) {
            Datasets.requireFits(data, session.inputs());
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
        PruningSchedule.Masks masks = magnitudeMasks(model, layers, pattern, params.get(SCOPE), overrides, initial,
                target);
        int batchSize = params.get(BATCH_SIZE);
        long stepsPerEpoch = (data.size() + batchSize - 1) / batchSize;
        double first = pattern.nOfM() ? 1 - (double) pattern.n() / pattern.m() : initial;
        double last = pattern.nOfM() ? first : target;
        PruningSchedule schedule = new PruningSchedule(first, last, epochs * stepsPerEpoch, PruningSchedule.FREQUENCY,
                masks);
        Trainer.Result trained = Trainer.builder(graph, context.inference())
                .optimizer(Optimizer.adam(params.get(LEARNING_RATE))).epochs(epochs).batchSize(batchSize)
                .seed(params.get(SEED)).cancellation(context.cancellation())
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
     * The masks of gradual pruning: this transform's magnitude selection ({@code scope}, N:M) on the
     * current weights. A layer named in {@code overrides} goes from {@code min(initial, its sparsity)} to
     * its sparsity along the same share of the way as the schedule.
     */
    static PruningSchedule.Masks magnitudeMasks(OnnxModel model, List<WeightLayer> layers, Pattern pattern, Scope scope,
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
            Map<String, Long> counts = pattern.nOfM() ? Map.of() : counts(layers, matrices, sparsity, scope, scheduled);
            Map<String, boolean[]> out = new LinkedHashMap<>();
            for (WeightLayer layer : layers) {
                double[][][] m = matrices.get(layer.weightName);
                magnitude(m, pattern, pattern.nOfM() ? 0 : counts.get(layer.weightName));
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

    // ------------------------------------------------------------------ reconstruction

    /**
     * Reconstructs {@code layer} of {@code current} against {@code denseLayer} of {@code original}: pruned
     * with {@code pattern} ({@code count} weights when unstructured), or only refit when {@code pattern}
     * is {@code null}.
     *
     * @param keptRows for a layer that lost output channels, the original rows it kept; else {@code null}
     */
    private static OnnxModel reconstruct(OnnxModel current, OnnxModel original, WeightLayer denseLayer,
                                         WeightLayer layer, Pattern pattern, long count, LayerInputs inputs,
                                         double damp, boolean same, int[] keptRows) {
        boolean bias = hasBiasColumn(layer);
        int dColumns = denseLayer.columns + (bias ? 1 : 0);
        int pColumns = layer.columns + (bias ? 1 : 0);
        Reconstructor[] groups = new Reconstructor[layer.groups];
        for (int g = 0; g < groups.length; g++) {
            groups[g] = new Reconstructor(dColumns, pColumns, same);
        }
        inputs.stream(original, denseLayer.input, same ? null : current, layer.input, (d, p) ->
                InputRows.forEach(denseLayer, d, layer, p, (g, xd, xp) -> groups[g].add(xd, xp)));
        double[][][] dense = withBias(denseLayer, original);
        double[][][] start = withBias(layer, current);
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
        return write(current, layer, solved, bias);
    }

    private static boolean hasBiasColumn(WeightLayer layer) {
        return layer.kind == WeightLayer.Kind.CONV
                || (layer.kind == WeightLayer.Kind.GEMM && OnnxHelper.getFloat(layer.node, "beta", 1f) != 0
                && (layer.biasName != null || layer.node.getInputCount() < 3 || layer.node.getInput(2).isEmpty()));
    }

    /** {@code alpha / beta} of a Gemm: bias column weights times this are its C. */
    private static double biasScale(WeightLayer layer) {
        if (layer.kind != WeightLayer.Kind.GEMM) {
            return 1;
        }
        return OnnxHelper.getFloat(layer.node, "alpha", 1f) / OnnxHelper.getFloat(layer.node, "beta", 1f);
    }

    /** The layer's weights per group and row, with the bias (in units of the weights) as last column. */
    private static double[][][] withBias(WeightLayer layer, OnnxModel model) {
        double[][][] m = layer.matrix(model.initializer(layer.weightName).orElseThrow());
        if (!hasBiasColumn(layer)) {
            return m;
        }
        float[] bias = layer.biasName == null ? new float[layer.outputs()]
                : model.initializer(layer.biasName).orElseThrow().toFloatArray();
        double scale = biasScale(layer);
        for (int g = 0; g < m.length; g++) {
            for (int r = 0; r < m[g].length; r++) {
                double[] row = Arrays.copyOf(m[g][r], layer.columns + 1);
                row[layer.columns] = bias[g * layer.rows + r] / scale;
                m[g][r] = row;
            }
        }
        return m;
    }

    private static OnnxModel write(OnnxModel model, WeightLayer layer, double[][][] solved, boolean bias) {
        GraphEditor editor = GraphEditor.of(model.graph());
        double[][][] weights = new double[layer.groups][layer.rows][];
        float[] b = new float[layer.outputs()];
        double scale = biasScale(layer);
        for (int g = 0; g < layer.groups; g++) {
            for (int r = 0; r < layer.rows; r++) {
                weights[g][r] = Arrays.copyOf(solved[g][r], layer.columns);
                if (bias) {
                    b[g * layer.rows + r] = (float) (solved[g][r][layer.columns] * scale);
                }
            }
        }
        editor.putInitializer(layer.tensor(weights).toProto(layer.weightName));
        if (bias) {
            String name = layer.biasName;
            if (name == null) {
                name = editor.freshName(layer.weightName + "_bias");
                NodeProto node = editor.nodes().stream().filter(n -> n.getOutputList().equals(layer.node.getOutputList()))
                        .findFirst().orElseThrow();
                NodeProto.Builder nb = node.toBuilder();
                if (nb.getInputCount() < 3) {
                    nb.addInput(name);
                } else {
                    nb.setInput(2, name);
                }
                editor.replaceNode(node, nb.build());
            }
            editor.putInitializer(Tensor.ofFloats(new long[] {layer.outputs()}, b).toProto(name));
        }
        return model.withGraph(editor.build());
    }

    // ------------------------------------------------------------------ channels

    private TransformResult channels(TransformContext context, OnnxModel model, List<WeightLayer> layers,
                                     double sparsity, Map<String, Double> overrides, List<String> named,
                                     LayerInputs inputs, double damp) {
        Map<String, TensorInfo> types = context.inference().valueTypes(model);
        OnnxModel current = model;
        List<String> kept = new ArrayList<>();
        Map<String, int[]> keptRows = new LinkedHashMap<>();
        Set<String> readers = new java.util.LinkedHashSet<>();
        long removedChannels = 0;
        long channels = 0;
        for (WeightLayer original : layers) {
            WeightLayer layer = WeightLayer.find(current, Set.of(original.node.getOpType())).stream()
                    .filter(l -> l.weightName.equals(original.weightName)).findFirst().orElseThrow();
            double s = sparsityOf(layer, sparsity, overrides);
            int remove = (int) Math.round(s * layer.outputs());
            if (remove == 0) {
                continue;
            }
            ChannelPruner pruner = new ChannelPruner(current, types);
            Object plan = pruner.plan(layer);
            if (plan instanceof String reason) {
                if (overrides.keySet().stream().anyMatch(layer::named) || named.stream().anyMatch(layer::named)) {
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
        if (inputs != null) {
            // refit every layer whose inputs or outputs changed, in graph order, on the pruned model's inputs
            List<WeightLayer> dense = WeightLayer.find(model, Set.of("Conv", "Gemm", "MatMul"));
            for (WeightLayer original : dense) {
                if (!readers.contains(original.weightName) && !keptRows.containsKey(original.weightName)) {
                    continue;
                }
                WeightLayer layer = WeightLayer.find(current, Set.of(original.node.getOpType())).stream()
                        .filter(l -> l.weightName.equals(original.weightName)).findFirst().orElseThrow();
                if (!reconstructible(layer) || layer.groups != 1) {
                    continue;
                }
                current = reconstruct(current, model, original, layer, null, 0, inputs, damp, false,
                        keptRows.get(original.weightName));
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
        context.logger().info("removed {} of {} channels", removedChannels, channels);
        return result;
    }
}
