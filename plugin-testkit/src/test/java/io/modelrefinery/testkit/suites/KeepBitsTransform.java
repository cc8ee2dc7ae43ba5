package io.modelrefinery.testkit.suites;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.StringStringEntryProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.plugin.InvalidParamException;
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

/**
 * A small, well-behaved transform (float weights keep their top mantissa bits) that can be broken in exactly
 * one way at a time, so that each conformance rule can be shown to catch its defect.
 */
public final class KeepBitsTransform implements ModelTransform {
    /** One broken rule, or none. */
    public enum Defect {
        NONE, UNDOCUMENTED_PARAM, NONDETERMINISTIC, IGNORES_CANCELLATION, VALIDATES_PARAMS_LATE, INVALID_OUTPUT,
        /** Declares the bounds [1, 23] (described in words only) but its validator does not check them. */
        DECLARES_RANGE_IT_DOES_NOT_CHECK
    }

    private final Defect defect;
    private final ParamSpec<Integer> bits;
    private final TransformDescriptor descriptor;

    public KeepBitsTransform(Defect defect) {
        this.defect = defect;
        ParamSpec.Builder<Integer> spec = ParamSpec.integer("bits").defaultValue(8)
                .doc(defect == Defect.UNDOCUMENTED_PARAM ? "Bits." : "Mantissa bits each float weight keeps, of 23.");
        if (defect == Defect.VALIDATES_PARAMS_LATE) {
            spec.validator(ParamValidator.atLeast(-1000)); // documents a range, checks the real one too late
        } else if (defect == Defect.DECLARES_RANGE_IT_DOES_NOT_CHECK) {
            spec.validator(new ParamValidator<Integer>() {
                @Override
                public String problem(Integer value) {
                    return null;
                }

                @Override
                public String describe() {
                    return "one to twenty-three bits"; // words no text parser could read bounds from
                }

                @Override
                public java.util.Optional<Range> range() {
                    return java.util.Optional.of(new Range(1, true, 23, true));
                }
            });
        } else {
            spec.validator(ParamValidator.between(1, 23));
        }
        this.bits = spec.build();
        this.descriptor = TransformDescriptor.builder("keep-bits").version("1.0.0").kind(TransformKind.COMPRESSOR)
                .accepts(ModelFormat.ONNX).produces(ModelFormat.ONNX)
                .summary("Keeps the top mantissa bits of every float weight.").param(bits).build();
    }

    @Override
    public TransformDescriptor descriptor() {
        return descriptor;
    }

    @Override
    public TransformResult apply(TransformContext context, ModelArtifact input, Params params) {
        OnnxModel model = input.onnxModel();
        if (defect != Defect.IGNORES_CANCELLATION) {
            context.cancellation().throwIfCancelled();
        } else {
            try {
                Thread.sleep(700); // long work that never looks at the cancellation
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        int keep = params.get(bits);
        GraphEditor editor = GraphEditor.of(model.graph());
        for (TensorProto init : model.graph().getInitializerList()) {
            if (init.getDataType() != DataType.FLOAT.code()) {
                continue;
            }
            float[] values = model.tensor(init).toFloatArray();
            if ((defect == Defect.VALIDATES_PARAMS_LATE || defect == Defect.DECLARES_RANGE_IT_DOES_NOT_CHECK)
                    && (keep < 1 || keep > 23)) {
                throw new InvalidParamException("bits must be in [1, 23], not " + keep); // after work began
            }
            for (int i = 0; i < values.length; i++) {
                int raw = Float.floatToRawIntBits(values[i]);
                values[i] = Float.intBitsToFloat(raw & (0xFFFFFFFF << (23 - keep)));
            }
            String name = defect == Defect.INVALID_OUTPUT ? init.getName() + "-renamed" : init.getName();
            editor.putInitializer(Tensor.ofFloats(model.tensor(init).shape(), values).toProto(name));
            if (defect == Defect.INVALID_OUTPUT) {
                editor.removeInitializer(init.getName());
            }
        }
        OnnxModel out = model.withGraph(editor.build());
        if (defect == Defect.NONDETERMINISTIC) {
            out = out.withProto(out.proto().toBuilder().addMetadataProps(StringStringEntryProto.newBuilder()
                    .setKey("made-at").setValue(Long.toString(System.nanoTime()))).build());
        }
        return TransformResult.of(out);
    }
}
