package io.modelrefinery.plugin.graphoptimize;

import io.modelrefinery.api.infer.GraphOptimizationLevel;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformContext;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformKind;
import io.modelrefinery.api.plugin.TransformResult;
import org.osgi.service.component.annotations.Component;

/**
 * {@code graph-optimize}: ONNX Runtime's offline graph optimization. The model computes the same
 * function with fewer, fused nodes: constant folding, redundant node elimination and, from
 * {@code extended} on, fusions into ONNX Runtime's own operators.
 */
@Component(service = ModelTransform.class)
public final class GraphOptimizeTransform implements ModelTransform {

    /** How far to rewrite; each level includes the ones before it. */
    public enum Level {
        /** Standard ONNX operators only: the result runs on any ONNX runtime. */
        BASIC(GraphOptimizationLevel.BASIC),
        /** Adds fusions into ONNX Runtime operators (domain com.microsoft): runs on ONNX Runtime only. */
        EXTENDED(GraphOptimizationLevel.EXTENDED),
        /** Adds memory layout changes tuned to the CPU that runs the optimization. */
        ALL(GraphOptimizationLevel.ALL);

        final GraphOptimizationLevel runtimeLevel;

        Level(GraphOptimizationLevel runtimeLevel) {
            this.runtimeLevel = runtimeLevel;
        }
    }

    public static final ParamSpec<Level> LEVEL = ParamSpec.choice("level", Level.class)
            .defaultValue(Level.EXTENDED)
            .doc("basic keeps standard ONNX operators (choose it before quantization or for other runtimes); "
                    + "extended also fuses into ONNX Runtime operators; all also tunes layouts to this CPU.")
            .build();

    private static final TransformDescriptor DESCRIPTOR = TransformDescriptor.builder("graph-optimize")
            .version("1.0.0")
            .kind(TransformKind.OPTIMIZER)
            .accepts(ModelFormat.ONNX)
            .produces(ModelFormat.ONNX)
            .summary("Rewrites the graph with ONNX Runtime's offline optimizations: same results, fewer nodes.")
            .param(LEVEL)
            .recipe("graph-optimize") // what auto tries with this transform
            .build();

    @Override
    public TransformDescriptor descriptor() {
        return DESCRIPTOR;
    }

    @Override
    public TransformResult apply(TransformContext context, ModelArtifact input, Params params) {
        OnnxModel model = input.onnxModel();
        Level level = params.get(LEVEL);
        context.cancellation().throwIfCancelled();
        OnnxModel optimized = context.inference().optimize(model, level.runtimeLevel);
        int before = model.graph().getNodeCount();
        int after = optimized.graph().getNodeCount();
        context.logger().info("graph-optimize at {}: {} nodes became {}", ParamSpec.choiceName(level), before, after);
        return TransformResult.of(optimized)
                .withMetric("nodes-before", before)
                .withMetric("nodes-after", after);
    }
}
