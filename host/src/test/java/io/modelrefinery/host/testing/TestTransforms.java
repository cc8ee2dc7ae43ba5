package io.modelrefinery.host.testing;

import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformContext;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformKind;
import io.modelrefinery.api.plugin.TransformResult;

/**
 * Transforms for host tests, each a descriptor and a lambda: {@link ModelTransform} has two methods, so a test
 * cannot write one as a lambda itself.
 */
public final class TestTransforms {
    private TestTransforms() {
    }

    /** What a step does with its input, as {@link ModelTransform#apply}. */
    @FunctionalInterface
    public interface Step {
        TransformResult apply(TransformContext context, ModelArtifact input, Params params);
    }

    /** What a step does to an ONNX model, when it reports no metrics or notes. */
    @FunctionalInterface
    public interface OnnxStep {
        OnnxModel apply(TransformContext context, OnnxModel model, Params params);
    }

    /** The transform {@code descriptor} describes, doing {@code step}. */
    public static ModelTransform of(TransformDescriptor descriptor, Step step) {
        return new ModelTransform() {
            @Override
            public TransformDescriptor descriptor() {
                return descriptor;
            }

            @Override
            public TransformResult apply(TransformContext context, ModelArtifact input, Params params) {
                return step.apply(context, input, params);
            }
        };
    }

    /** The transform {@code descriptor} describes, turning the input's ONNX model into another. */
    public static ModelTransform onnx(TransformDescriptor descriptor, OnnxStep step) {
        return of(descriptor, (context, input, params) -> TransformResult.of(step.apply(context, input.onnxModel(), params)));
    }

    /** A descriptor of {@code kind} from ONNX to ONNX, version 1.0.0, for a test to add parameters and data to. */
    public static TransformDescriptor.Builder descriptor(String id, TransformKind kind) {
        return TransformDescriptor.builder(id).version("1.0.0").kind(kind).accepts(ModelFormat.ONNX)
                .produces(ModelFormat.ONNX).summary("test");
    }

    /** {@link #descriptor} of a compressor, the kind most test transforms stand in for. */
    public static TransformDescriptor.Builder compressor(String id) {
        return descriptor(id, TransformKind.COMPRESSOR);
    }
}
