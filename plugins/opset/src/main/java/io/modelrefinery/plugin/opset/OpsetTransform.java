package io.modelrefinery.plugin.opset;

import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.ParamRole;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.ParamValidator;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformContext;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformKind;
import io.modelrefinery.api.plugin.TransformResult;
import org.osgi.service.component.annotations.Component;

/**
 * {@code opset}: converts an ONNX model to another version of the default operator set, up or down,
 * between 13 and the newest ONNX Runtime 1.28 runs; models from opset 6 on are converted up. Operators whose signature changed are rewritten;
 * one the target cannot express is refused with its name.
 */
@Component(service = ModelTransform.class)
public final class OpsetTransform implements ModelTransform {

    public static final ParamSpec<Integer> TARGET = ParamSpec.integer("target")
            .defaultValue(OpsetConversion.MAX_OPSET)
            .validator(ParamValidator.between(OpsetConversion.MIN_OPSET, OpsetConversion.MAX_OPSET))
            // how the host finds this converter to upgrade a model in front of a step that needs a newer opset
            .role(ParamRole.TARGET_OPSET)
            .doc("The operator set version to convert to.")
            .build();

    private static final TransformDescriptor DESCRIPTOR = TransformDescriptor.builder("opset")
            .version("1.1.0")
            .kind(TransformKind.CONVERTER)
            .accepts(ModelFormat.ONNX)
            .produces(ModelFormat.ONNX)
            .summary("Converts an ONNX model to another operator set version (" + OpsetConversion.MIN_OPSET + " to "
                    + OpsetConversion.MAX_OPSET + ", from models at " + OpsetConversion.MIN_SOURCE_OPSET + " or later), "
                    + "rewriting the operators whose signature changed.")
            .param(TARGET)
            .build();

    @Override
    public TransformDescriptor descriptor() {
        return DESCRIPTOR;
    }

    @Override
    public TransformResult apply(TransformContext context, ModelArtifact input, Params params) {
        OnnxModel model = input.onnxModel();
        int target = params.get(TARGET);
        OpsetConversion conversion = new OpsetConversion(model, target, () -> context.inference().valueTypes(model),
                context.cancellation());
        OnnxModel converted = conversion.run();
        TransformResult result = TransformResult.of(converted)
                .withMetric("source-opset", conversion.source())
                .withMetric("target-opset", target)
                .withMetric("rewritten-nodes", conversion.rewrittenNodes());
        if (conversion.source() == target) {
            result = result.withNote("the model already uses opset " + target);
        }
        for (String note : conversion.notes()) {
            result = result.withNote(note);
        }
        return result;
    }
}
