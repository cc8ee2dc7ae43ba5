package io.modelrefinery.plugin.fp16;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.TensorInfo;
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

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * {@code fp16}: stores weights and computes activations in IEEE half precision, halving the model's
 * size. Graph inputs and outputs stay float32 by default, so callers need not change; operators without
 * good half-precision support stay float32 behind casts.
 */
@Component(service = ModelTransform.class)
public final class Fp16Transform implements ModelTransform {

    /**
     * Operators kept in float32 by default: ones whose half-precision kernels are missing in some ONNX
     * Runtime providers or lose too much precision, quantization operators, and control flow (whose
     * subgraphs are not converted).
     */
    public static final List<String> DEFAULT_OP_BLOCK_LIST = List.of(
            "NonMaxSuppression", "TopK", "RoiAlign", "Range", "CumSum", "Min", "Max", "Upsample",
            "RandomUniformLike", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
            "If", "Loop", "Scan");

    /** Rounds of asking ONNX Runtime for an operator it refuses in float16. */
    private static final int MAX_REFUSED_OPERATORS = 8;

    private static final String NAME_PATTERN = "[A-Za-z0-9_./:-]+";

    public static final ParamSpec<Boolean> KEEP_IO_TYPES = ParamSpec.bool("keep-io-types")
            .defaultValue(true)
            .doc("Keep float32 graph inputs and outputs, converting at the boundary, so callers need no change.")
            .build();

    public static final ParamSpec<List<String>> EXCLUDE_OP_TYPES = CommonParams.excludeOpTypes()
            .deprecatedAlias("op-block-list")
            .defaultValue(DEFAULT_OP_BLOCK_LIST)
            .validator(ParamValidator.eachMatches(NAME_PATTERN, "operator type names"))
            .doc("Operator types left in float32. Operators of other domains than ONNX's always are.")
            .build();

    public static final ParamSpec<List<String>> EXCLUDE_NODES = CommonParams.excludeNodes()
            .deprecatedAlias("node-block-list")
            .validator(ParamValidator.eachMatches(NAME_PATTERN, "node names"))
            .doc("Names of individual nodes left in float32, for layers that need the precision.")
            .build();

    private static final TransformDescriptor DESCRIPTOR = TransformDescriptor.builder("fp16")
            .version("1.2.0")
            .kind(TransformKind.COMPRESSOR)
            .accepts(ModelFormat.ONNX)
            .produces(ModelFormat.ONNX)
            .summary("Converts float32 weights and activations to float16: half the size, close results.")
            .param(KEEP_IO_TYPES)
            .param(EXCLUDE_OP_TYPES)
            .param(EXCLUDE_NODES)
            .recipe("fp16") // what auto tries with this transform
            .build();

    @Override
    public TransformDescriptor descriptor() {
        return DESCRIPTOR;
    }

    @Override
    public TransformResult apply(TransformContext context, ModelArtifact input, Params params) {
        OnnxModel model = input.onnxModel();
        Map<String, TensorInfo> types = context.inference().valueTypes(model);
        context.cancellation().throwIfCancelled();
        if (model.opsetVersion() < 6) {
            throw new InvalidInputException("the model uses opset " + model.opsetVersion() + ", whose Cast names its "
                    + "type by a string; fp16 needs opset 6 or later");
        }
        requireAWeightOnnxReads(model);
        // Operators ONNX Runtime refuses in float16 stay float32: ask, block, convert again (a few rounds at most).
        List<String> blocked = new ArrayList<>(params.get(EXCLUDE_OP_TYPES));
        List<String> refused = new ArrayList<>();
        MissingKernels kernels = new MissingKernels(context.inference());
        Fp16Conversion conversion;
        OnnxModel converted;
        while (true) {
            context.cancellation().throwIfCancelled();
            conversion = new Fp16Conversion(model, types, params.get(KEEP_IO_TYPES), blocked,
                    params.get(EXCLUDE_NODES));
            converted = conversion.run();
            Optional<String> op = refused.size() < MAX_REFUSED_OPERATORS ? kernels.refusedOperator(converted)
                    : Optional.empty();
            if (op.isEmpty() || blocked.contains(op.get())) {
                break;
            }
            blocked.add(op.get());
            refused.add(op.get());
        }
        TransformResult result = TransformResult.of(converted)
                .withMetric("converted-nodes", conversion.convertedNodes())
                .withMetric("float32-nodes", conversion.float32Nodes())
                .withMetric("casts-added", conversion.castsAdded())
                .withMetric("converted-initializers", conversion.convertedInitializers())
                .withMetric("saturated-values", conversion.saturatedValues())
                .withMetric("runtime-kept-nodes", conversion.runtimeGaps().keptNodes());
        for (String note : conversion.runtimeGaps().notes()) {
            result = result.withNote(note);
        }
        if (!refused.isEmpty()) {
            result = result.withNote("kept in float32, since ONNX Runtime has no float16 kernel for them: "
                    + String.join(", ", refused));
        }
        if (conversion.convertedNodes() == 0) {
            result = result.withNote("no node was converted: every float operator is blocked or none exists");
        }
        if (conversion.saturatedValues() > 0) {
            result = result.withNote(conversion.saturatedValues()
                    + " weight values exceed float16's range (65504) and were clamped");
        }
        return result;
    }

    /**
     * Refuses a model whose float32 weights are all read by ONNX Runtime's own operators (other domains than
     * ONNX's, such as its optimizations above level basic write: FusedConv, FusedGemm, NCHWc convolutions): those
     * stay float32, so no weight would be converted and the rest only gain casts, a larger model and no faster one
     * (the sample CNN optimized at level extended: 14,760 -> 15,663 bytes; at all: 19,744). Checked before
     * converting, which asks ONNX Runtime for its float16 kernels.
     */
    private static void requireAWeightOnnxReads(OnnxModel model) {
        Set<String> floatWeights = new HashSet<>();
        for (TensorProto init : model.graph().getInitializerList()) {
            if (init.getDataType() == DataType.FLOAT.code()) {
                floatWeights.add(init.getName());
            }
        }
        Set<String> readers = new TreeSet<>();
        for (NodeProto node : model.graph().getNodeList()) {
            if (node.getInputList().stream().anyMatch(floatWeights::contains)) {
                if (node.getDomain().isEmpty() || node.getDomain().equals("ai.onnx")) {
                    return; // an ONNX operator reads a weight: converted, unless excluded or without a kernel
                }
                readers.add(node.getDomain() + " " + node.getOpType());
            }
        }
        if (readers.isEmpty()) {
            return; // no float32 weight, or none read by a node of the main graph
        }
        throw new InvalidInputException("fp16 converts none of the model's " + floatWeights.size()
                + " float32 weights: ONNX Runtime's own operators read them (" + String.join(", ", readers)
                + "), as its optimizations above level basic write, and they stay float32; convert before those "
                + "optimizations");
    }
}
