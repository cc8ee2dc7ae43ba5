package io.modelrefinery.host.auto;

import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.event.GateResult;
import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.plugin.LayerSensitivity;
import io.modelrefinery.api.plugin.ParamRole;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.host.eval.QualityGates;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.pipeline.StepSpec;
import io.modelrefinery.host.pipeline.TransformCatalog;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The plan of a per-layer fallback for a recipe that failed a quality gate: which layers may stay in
 * float, how the recipe leaves them in float, and how much leaving one in float helped (the value of the
 * gate that failed). The steps it changes are those whose transform declares a
 * {@linkplain TransformDescriptor#layerFallback() layer fallback} (static quantization does); they leave
 * layers in float through their {@link ParamRole#NODE_EXCLUSION} parameter, whatever it is called.
 *
 * <p>Which layers first: those the step itself measured as least accurate, when it reports per-layer
 * sensitivity in the api's form ({@link LayerSensitivity}: each layer's own output SQNR); otherwise the
 * search measures it by trial, one layer left in float at a time ({@link #layers()}, {@link #rank}).
 */
final class LayerFallback {
    /** Sensitivity is measured for at most this many layers, the ones with the most weights. */
    static final int MAX_LAYERS = 16;
    private static final Set<String> WEIGHTED_OPS = Set.of("Conv", "ConvTranspose", "MatMul", "Gemm");
    /** Names that survive the pipeline syntax inside a list. */
    private static final Pattern LISTABLE_NAME = Pattern.compile("[^,\\[\\]()=\\s]+");

    private final PipelineSpec failed;
    private final String gate;
    private final OnnxModel reference;
    private final TransformCatalog catalog;

    LayerFallback(PipelineSpec failed, Evaluation evaluation, OnnxModel reference, TransformCatalog catalog) {
        this.failed = failed;
        this.gate = firstQualityFailure(evaluation);
        this.reference = reference;
        this.catalog = catalog;
    }

    /**
     * Whether {@code spec} has a step with a layer fallback that does not exclude nodes yet, and
     * {@code evaluation} failed a gate that leaving layers in float can fix (not latency).
     */
    static boolean applies(PipelineSpec spec, Evaluation evaluation, TransformCatalog catalog) {
        boolean excludable = spec.steps().stream().anyMatch(s -> exclusion(s, catalog).isPresent());
        return excludable && evaluation != null && firstQualityFailure(evaluation) != null;
    }

    /**
     * The node-exclusion parameter of {@code step}, when its transform has a layer fallback and the step
     * does not set that parameter yet (under its name or a former one).
     */
    private static Optional<ParamSpec<?>> exclusion(StepSpec step, TransformCatalog catalog) {
        return catalog.descriptors().stream().filter(d -> d.id().equals(step.transformId()))
                .filter(TransformDescriptor::layerFallback).findFirst()
                .flatMap(d -> d.param(ParamRole.NODE_EXCLUSION))
                .filter(p -> !step.params().containsKey(p.name())
                        && p.deprecatedAliases().stream().noneMatch(step.params()::containsKey));
    }

    private static String firstQualityFailure(Evaluation evaluation) {
        return evaluation.gates().stream().filter(g -> !g.passed())
                .map(GateResult::gate).filter(g -> !g.equals(QualityGates.MAX_LATENCY_RATIO.name()))
                .findFirst().orElse(null);
    }

    /**
     * The layers the failed recipe's fallback steps reported as least accurate first, at most
     * {@link #MAX_LAYERS}, from their {@link LayerSensitivity} metrics; empty when they reported none.
     */
    List<String> measured(List<StepRecord> steps) {
        Set<String> fallbackSteps = new HashSet<>();
        for (StepSpec step : failed.steps()) {
            exclusion(step, catalog).ifPresent(p -> fallbackSteps.add(step.transformId()));
        }
        return steps.stream().filter(s -> fallbackSteps.contains(s.transform()))
                .flatMap(s -> LayerSensitivity.read(s.metrics()).stream())
                .sorted(Comparator.comparingDouble(LayerSensitivity.Layer::sqnrDb))
                .map(LayerSensitivity.Layer::name).filter(n -> LISTABLE_NAME.matcher(n).matches())
                .distinct().limit(MAX_LAYERS).toList();
    }

    /** Named weighted layers of the original model, the largest first, at most {@link #MAX_LAYERS}. */
    List<String> layers() {
        GraphIndex index = GraphIndex.of(reference.graph());
        Map<String, Long> weights = new LinkedHashMap<>();
        for (NodeProto node : reference.graph().getNodeList()) {
            if (WEIGHTED_OPS.contains(node.getOpType()) && LISTABLE_NAME.matcher(node.getName()).matches()) {
                long count = 0;
                for (String input : node.getInputList()) {
                    count += index.initializer(input).map(LayerFallback::elements).orElse(0L);
                }
                if (count > 0) {
                    weights.put(node.getName(), count);
                }
            }
        }
        return weights.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed())
                .limit(MAX_LAYERS).map(Map.Entry::getKey).toList();
    }

    private static long elements(TensorProto tensor) {
        long n = 1;
        for (long d : tensor.getDimsList()) {
            n *= d;
        }
        return n;
    }

    /** The failed recipe with {@code layers} left in float by its static quantization step. */
    PipelineSpec excluding(List<String> layers) {
        List<StepSpec> steps = new ArrayList<>();
        for (StepSpec step : failed.steps()) {
            Optional<ParamSpec<?>> exclusion = exclusion(step, catalog);
            if (exclusion.isPresent()) {
                Map<String, String> params = new LinkedHashMap<>(step.params());
                params.put(exclusion.get().name(), "[" + String.join(",", layers) + "]");
                steps.add(new StepSpec(step.transformId(), params));
            } else {
                steps.add(step);
            }
        }
        return PipelineSpec.of(steps);
    }

    /** The quality gate the recipe failed first. */
    String gate() {
        return gate;
    }

    /** How good {@code evaluation} is on the gate that failed: higher is better. */
    double score(Evaluation evaluation) {
        Double value = switch (gate) {
            case "max-accuracy-drop" -> evaluation.accuracyAfter();
            case "min-sqnr-db" -> evaluation.sqnrDb();
            case "min-top1-agreement" -> evaluation.top1Agreement();
            default -> throw new IllegalStateException("no fallback for gate " + gate);
        };
        return value == null ? Double.NEGATIVE_INFINITY : value;
    }

    /** {@code layers} ordered by {@code scores} (same order), the layer whose exclusion helped most first. */
    static List<String> rank(List<String> layers, List<Double> scores) {
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < layers.size(); i++) {
            order.add(i);
        }
        order.sort(Comparator.comparingDouble((Integer i) -> scores.get(i)).reversed());
        return order.stream().map(layers::get).toList();
    }
}
