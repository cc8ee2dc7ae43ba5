package com.example.refinery.roundweights;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
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

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * {@code round-weights}: rounds every float32 weight to {@code bits} significant bits (of float32's 24),
 * to the nearest representable value. The model keeps its size, but its weights repeat and zip much
 * smaller, at a precision loss the bit count controls: 8 bits keep about 2 decimal digits.
 *
 * <p>A Declarative Services component: the host finds it when the bundle starts. It keeps no state
 * between calls, so one instance serves every job at once.
 */
@Component(service = ModelTransform.class)
public final class RoundWeightsTransform implements ModelTransform {

    /** Typed parameters: a name, a default, a validator and documentation each; the host shows and checks them. */
    public static final ParamSpec<Integer> BITS = ParamSpec.integer("bits")
            .defaultValue(10)
            .validator(ParamValidator.between(1, 24))
            .doc("Significant bits each float32 weight keeps, of 24 (the implicit leading bit counts).")
            .build();

    /**
     * A parameter of the shared vocabulary ({@code CommonParams}): the name every plugin uses for nodes left
     * alone, and the role by which the host finds it. The former name still works, with a warning.
     */
    public static final ParamSpec<List<String>> EXCLUDE_NODES = CommonParams.excludeNodes()
            .deprecatedAlias("exclude")
            .validator(ParamValidator.eachMatches("[A-Za-z0-9_./:-]+", "node or initializer names"))
            .doc("Nodes whose initializers stay exactly as they are, or such initializers by name, for layers "
                    + "that need every bit.")
            .build();

    private static final TransformDescriptor DESCRIPTOR = TransformDescriptor.builder("round-weights")
            .version("1.0.0")
            .kind(TransformKind.COMPRESSOR)
            .accepts(ModelFormat.ONNX)
            .produces(ModelFormat.ONNX)
            .summary("Rounds float32 weights to a number of significant bits so that the model zips smaller.")
            .param(BITS)
            .param(EXCLUDE_NODES)
            .build();

    @Override
    public TransformDescriptor descriptor() {
        return DESCRIPTOR;
    }

    @Override
    public TransformResult apply(TransformContext context, ModelArtifact input, Params params) {
        OnnxModel model = input.onnxModel();
        int bits = params.get(BITS);
        Set<String> exclude = excluded(model, params.get(EXCLUDE_NODES));
        GraphEditor editor = GraphEditor.of(model.graph());
        List<TensorProto> initializers = model.graph().getInitializerList();
        long rounded = 0;
        int tensors = 0;
        for (int i = 0; i < initializers.size(); i++) {
            context.cancellation().throwIfCancelled(); // between units of work: one initializer each
            TensorProto init = initializers.get(i);
            if (init.getDataType() != DataType.FLOAT.code() || exclude.contains(init.getName())) {
                continue;
            }
            Tensor tensor = model.tensor(init); // works for inline and external data alike
            float[] values = tensor.toFloatArray();
            for (int j = 0; j < values.length; j++) {
                float r = round(values[j], bits);
                if (Float.floatToRawIntBits(r) != Float.floatToRawIntBits(values[j])) {
                    rounded++;
                }
                values[j] = r;
            }
            // A new tensor under the same name: the input model itself is never changed.
            editor.putInitializer(Tensor.ofFloats(tensor.shape(), values).toProto(init.getName()));
            tensors++;
            context.progress().update(i + 1, initializers.size(), "rounding weights");
        }
        TransformResult result = TransformResult.of(model.withGraph(editor.build()))
                .withMetric("rounded-values", rounded)
                .withMetric("rounded-initializers", tensors);
        if (tensors == 0) {
            result = result.withNote("no float32 initializer to round");
        }
        context.logger().debug("rounded {} values in {} initializers to {} bits", rounded, tensors, bits);
        return result;
    }

    /** The initializers named, and those read by the nodes named. */
    private static Set<String> excluded(OnnxModel model, List<String> names) {
        Set<String> out = new HashSet<>(names);
        for (NodeProto node : model.graph().getNodeList()) {
            if (names.contains(node.getName())) {
                out.addAll(node.getInputList());
            }
        }
        return out;
    }

    /**
     * {@code value} rounded to {@code bits} significant bits, half away from zero on the bit pattern; NaN and
     * infinities stay as they are.
     */
    static float round(float value, int bits) {
        if (bits >= 24 || Float.isNaN(value) || Float.isInfinite(value)) {
            return value;
        }
        int raw = Float.floatToRawIntBits(value);
        int drop = 24 - bits; // mantissa bits cleared
        int half = 1 << (drop - 1);
        int mask = -1 << drop;
        int roundedBits = (raw + half) & mask; // a carry into the exponent is the correct rounding
        float result = Float.intBitsToFloat(roundedBits);
        return Float.isInfinite(result) ? Float.intBitsToFloat(raw & mask) : result;
    }
}
