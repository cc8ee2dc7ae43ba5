package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.CommonParams;
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
import org.osgi.service.component.annotations.Component;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;

/**
 * {@code clip}: clips outlying weights of each output channel of Conv, Gemm and MatMul layers, to a
 * percentile of the channel's absolute values or to mean ± k standard deviations. A step before
 * quantization: one outlier no longer stretches a channel's scale over values it barely uses.
 */
@Component(service = ModelTransform.class)
public final class ClipTransform implements ModelTransform {
    /** How a channel's limits are set. */
    public enum Method { PERCENTILE, SIGMA }

    static final ParamSpec<Method> METHOD = ParamSpec.choice("method", Method.class).defaultValue(Method.PERCENTILE)
            .doc("percentile: clip |w| above the channel's percentile; sigma: clip outside mean ± sigmas * std.")
            .build();
    static final ParamSpec<Double> PERCENTILE = ParamSpec.decimal("percentile").defaultValue(99.0)
            .validator(ParamValidator.between(50, 100)).doc("For method=percentile: share of |w| kept, in percent.")
            .build();
    static final ParamSpec<Double> SIGMAS = ParamSpec.decimal("sigmas").defaultValue(3.0)
            .validator(ParamValidator.greaterThan(0)).doc("For method=sigma: standard deviations kept on each side.")
            .build();
    static final ParamSpec<List<String>> OP_TYPES = CommonParams.opTypes(List.of("Conv", "Gemm", "MatMul"))
            .validator(ParamValidator.eachMatches("Conv|Gemm|MatMul", "Conv, Gemm or MatMul"))
            .doc("Operator types clipped.").build();
    static final ParamSpec<List<String>> EXCLUDE_NODES = CommonParams.excludeNodes().deprecatedAlias("skip")
            .doc("Layers (node or weight names) left as they are.").build();

    private static final TransformDescriptor DESCRIPTOR = TransformDescriptor.builder("clip")
            .version("1.1.0")
            .kind(TransformKind.COMPRESSOR)
            .accepts(ModelFormat.ONNX)
            .produces(ModelFormat.ONNX)
            .summary("Clips outlying weights per output channel (percentile or sigma rule), before quantization.")
            .param(METHOD).param(PERCENTILE).param(SIGMAS).param(OP_TYPES).param(EXCLUDE_NODES)
            .build();

    @Override
    public TransformDescriptor descriptor() {
        return DESCRIPTOR;
    }

    @Override
    public TransformResult apply(TransformContext context, ModelArtifact input, Params params) {
        OnnxModel model = input.onnxModel();
        List<WeightLayer> layers = WeightLayer.find(model, new HashSet<>(params.get(OP_TYPES)));
        List<String> skip = params.get(EXCLUDE_NODES);
        for (String name : skip) {
            if (layers.stream().noneMatch(l -> l.named(name))) {
                throw new InvalidInputException("layer '" + name + "' in " + EXCLUDE_NODES.name() + " is not a Conv, Gemm or MatMul layer with "
                        + "a constant weight (layers: " + String.join(", ", layers.stream().map(WeightLayer::name).toList())
                        + ")");
            }
        }
        GraphEditor editor = GraphEditor.of(model.graph());
        long clipped = 0;
        long total = 0;
        int count = 0;
        for (WeightLayer layer : layers) {
            context.cancellation().throwIfCancelled();
            if (skip.stream().anyMatch(layer::named)) {
                continue;
            }
            double[][][] m = layer.matrix(model.initializer(layer.weightName).orElseThrow());
            for (double[][] group : m) {
                for (double[] row : group) {
                    clipped += params.get(METHOD) == Method.PERCENTILE ? clipPercentile(row, params.get(PERCENTILE))
                            : clipSigma(row, params.get(SIGMAS));
                    total += row.length;
                }
            }
            editor.putInitializer(layer.tensor(m).toProto(layer.weightName));
            count++;
        }
        double share = total == 0 ? 0 : (double) clipped / total;
        context.logger().info("clipped {} of {} weights in {} layers", clipped, total, count);
        return TransformResult.of(model.withGraph(editor.build()))
                .withMetric("clipped-share", share)
                .withMetric("clipped-weights", clipped)
                .withMetric("clipped-layers", count);
    }

    /** Clips {@code row} to ± its {@code percentile}-th absolute value (nearest rank); returns how many changed. */
    static int clipPercentile(double[] row, double percentile) {
        double[] abs = new double[row.length];
        for (int i = 0; i < row.length; i++) {
            abs[i] = Math.abs(row[i]);
        }
        Arrays.sort(abs);
        int rank = (int) Math.ceil(percentile / 100 * row.length) - 1;
        double limit = abs[Math.max(0, Math.min(row.length - 1, rank))];
        return clip(row, -limit, limit);
    }

    /** Clips {@code row} to its mean ± {@code sigmas} standard deviations; returns how many changed. */
    static int clipSigma(double[] row, double sigmas) {
        double mean = 0;
        for (double v : row) {
            mean += v;
        }
        mean /= row.length;
        double var = 0;
        for (double v : row) {
            var += (v - mean) * (v - mean);
        }
        double std = Math.sqrt(var / row.length);
        return clip(row, mean - sigmas * std, mean + sigmas * std);
    }

    private static int clip(double[] row, double lo, double hi) {
        int changed = 0;
        for (int i = 0; i < row.length; i++) {
            // compare as stored: a float already at the limit is not clipped
            float limited = (float) Math.min(hi, Math.max(lo, row[i]));
            if (limited != (float) row[i]) {
                row[i] = limited;
                changed++;
            }
        }
        return changed;
    }
}
