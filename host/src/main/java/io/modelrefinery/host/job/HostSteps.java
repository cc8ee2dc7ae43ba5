package io.modelrefinery.host.job;

import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformKind;
import io.modelrefinery.host.auto.AutoSettings;
import io.modelrefinery.host.eval.QualityGates;

import java.util.ArrayList;
import java.util.List;

/**
 * The descriptors of the two steps the host handles itself, {@code gate(...)} and {@code auto(...)}, so
 * that their parameters are read by {@link io.modelrefinery.api.plugin.Params#parse} like a transform's:
 * the same messages, every problem at once. They are never in the catalog.
 */
public final class HostSteps {
    /** {@code gate(max-accuracy-drop=0.005,...)}: the quality gates, as the last step of a pipeline. */
    public static final TransformDescriptor GATE = descriptor(JobPipeline.GATE,
            "Quality gates the result must pass to be published as optimized; the last step of a pipeline.",
            QualityGates.ALL);

    /** {@code auto(objective=size,max-accuracy-drop=0.005,...)}: the search settings and its gates. */
    public static final TransformDescriptor AUTO = descriptor(JobPipeline.AUTO,
            "Searches the installed transforms' recipes and keeps the best result that passes the gates.",
            concat(AutoSettings.PARAMS, QualityGates.ALL));

    private HostSteps() {
    }

    private static TransformDescriptor descriptor(String id, String summary, List<? extends ParamSpec<?>> params) {
        TransformDescriptor.Builder builder = TransformDescriptor.builder(id).version("1.0.0")
                .kind(TransformKind.OPTIMIZER).accepts(ModelFormat.ONNX).produces(ModelFormat.ONNX).summary(summary);
        params.forEach(builder::param);
        return builder.build();
    }

    private static List<ParamSpec<?>> concat(List<? extends ParamSpec<?>> a, List<? extends ParamSpec<?>> b) {
        List<ParamSpec<?>> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }
}
