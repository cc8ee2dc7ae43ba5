package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The per-operator registry of both quantizers, shaped like ONNX Runtime's: operator type to handler, and
 * a default handler that leaves the operator float. A handler holds the operator's static rule (how it is
 * quantized in QDQ form: the role of each input and where its output's quantization comes from) and its
 * dynamic rewrite (the integer operators that replace it when activations are quantized at run time);
 * either may be absent.
 *
 * <p>The static rules follow the integer kernels ONNX Runtime's CPU provider fuses QDQ groups into:
 * QLinearConv, QGemm, QLinearMatMul, QLinearAdd/Mul/Concat/AveragePool/GlobalAveragePool/Sigmoid/Softmax/
 * LeakyRelu, and the operators it runs on 8-bit data directly when their input and output share scale and
 * zero point (reshapes, transposes, max pooling, resizing). HardSwish and HardSigmoid, which have no integer
 * kernel, are decomposed into Add, Clip and Mul that do. An operator outside the table (Erf,
 * LayerNormalization...) stays float: its neighbours' QuantizeLinear/DequantizeLinear feed it.
 */
final class QuantOps {
    /** What an input is, in QDQ form. */
    enum Role {
        /**
         * A value computed at run time: quantized with its calibrated range, Q then DQ; a constant in this role
         * is stored 8-bit in the activations' type with the range of its values, DQ only.
         */
        ACTIVATION,
        /** A constant weight: stored 8-bit, per channel when the operator allows it, DQ only. */
        WEIGHT,
        /** A constant bias added to the weight product: stored int32 with scale input*weight. */
        BIAS,
        /** Left as it is: shapes, axes, limits. */
        NONE
    }

    /** Where the output's scale and zero point come from, in QDQ form. */
    enum Output {
        /** Its own calibrated range. */
        CALIBRATED,
        /**
         * The first input's: the operator only moves or picks values (max pooling, reshapes), and ONNX Runtime
         * runs it on the 8-bit data when input and output share their parameters. Quantized only when its
         * input is, so that a float neighbourhood gets no Q/DQ pair for nothing.
         */
        SAME_AS_INPUT,
        /** The fixed range [0, 1] of probabilities. */
        UNIT_INTERVAL,
        /** Calibrated, and the operator itself can disappear into the producer's quantization (ReLU, Clip). */
        REMOVABLE_ACTIVATION
    }

    /**
     * One operator's static rule.
     *
     * @param output where its output's parameters come from
     * @param roles the role of each input
     * @param weightAxis the per-channel axis of a weight, given its rank; -1 for per tensor
     * @param floatOutput whether ONNX Runtime fuses the operator without a quantized output (QGemm and
     *     MatMulIntegerToFloat write float), so that a graph output it produces need not be quantized
     */
    record QdqRule(Output output, RoleFunction roles, AxisFunction weightAxis, boolean floatOutput) {
        List<Role> rolesOf(NodeProto node, Constants constants) {
            return roles.roles(node, constants);
        }
    }

    /** The dynamic rewrite of one operator: the nodes that replace it, or empty to leave it float. */
    @FunctionalInterface
    interface DynamicRewrite {
        Optional<List<NodeProto>> rewrite(DynamicQuantizer.Context context, NodeProto node);
    }

    /**
     * For static quantization, the operators that replace one without an integer kernel and compute the same
     * function with operators that have one (HardSwish as Add, Clip and Mul), before the QDQ groups are planned;
     * empty to leave it as it is. New constants go into {@code editor}.
     */
    @FunctionalInterface
    interface Decomposition {
        Optional<Decompositions.Parts> decompose(GraphEditor editor, NodeProto node);
    }

    /**
     * How one operator type is quantized.
     *
     * @param qdq its static rule, or null when static quantization leaves it float
     * @param dynamic its dynamic rewrite, or null when dynamic quantization leaves it float
     * @param decomposer what static quantization rewrites it into first, or null
     */
    record Handler(QdqRule qdq, DynamicRewrite dynamic, Decomposition decomposer) {
        Handler(QdqRule qdq, DynamicRewrite dynamic) {
            this(qdq, dynamic, null);
        }

        Optional<Decomposition> decomposition() {
            return Optional.ofNullable(decomposer);
        }

        Optional<QdqRule> staticRule() {
            return Optional.ofNullable(qdq);
        }

        Optional<DynamicRewrite> dynamicRewrite() {
            return Optional.ofNullable(dynamic);
        }
    }

    /** Tells whether a value name is a constant (an initializer). */
    @FunctionalInterface
    interface Constants {
        boolean isConstant(String name);
    }

    @FunctionalInterface
    interface RoleFunction {
        List<Role> roles(NodeProto node, Constants constants);
    }

    /** The per-channel axis of a node's weight, given the weight's rank. */
    @FunctionalInterface
    interface AxisFunction {
        int axis(NodeProto node, int weightRank);
    }

    /** The default: the operator stays float in both modes. */
    static final Handler FLOAT = new Handler(null, null);

    private static final AxisFunction NO_AXIS = (node, rank) -> -1;

    private static QdqRule rule(Output output, Role... roles) {
        List<Role> fixed = List.of(roles);
        return new QdqRule(output, (node, constants) -> fixed, NO_AXIS, false);
    }

    /**
     * Every input an activation. A constant among them is stored in the activations' type with the range of its
     * values: ONNX Runtime's QLinearAdd, QLinearMul and QLinearConcat take inputs of one type.
     */
    private static QdqRule allActivations(Output output) {
        return new QdqRule(output, (node, constants) -> node.getInputList().stream().map(in -> Role.ACTIVATION).toList(),
                NO_AXIS, false);
    }

    private static Role weightOrActivation(NodeProto node, int input, Constants constants) {
        return constants.isConstant(node.getInput(input)) ? Role.WEIGHT : Role.ACTIVATION;
    }

    /** A bias input: int32 when it is a constant added as it is, otherwise left float. */
    private static Role bias(NodeProto node, int input, Constants constants) {
        return node.getInputCount() > input && constants.isConstant(node.getInput(input)) ? Role.BIAS : Role.NONE;
    }

    private static final QdqRule CONV = new QdqRule(Output.CALIBRATED, (node, c) -> List.of(Role.ACTIVATION,
            weightOrActivation(node, 1, c), bias(node, 2, c)), (node, rank) -> 0, false);
    private static final QdqRule GEMM = new QdqRule(Output.CALIBRATED, (node, c) -> List.of(Role.ACTIVATION,
            weightOrActivation(node, 1, c), OnnxHelper.getFloat(node, "beta", 1f) == 1f ? bias(node, 2, c) : Role.NONE),
            (node, rank) -> OnnxHelper.getInt(node, "transB", 0) == 1 ? 0 : 1, true);
    private static final QdqRule MAT_MUL = new QdqRule(Output.CALIBRATED, (node, c) -> List.of(Role.ACTIVATION,
            weightOrActivation(node, 1, c)), (node, rank) -> rank - 1, true);

    private static final Map<String, Handler> HANDLERS = Map.ofEntries(
            Map.entry("Conv", new Handler(CONV, DynamicRewrites::conv)),
            Map.entry("Gemm", new Handler(GEMM, DynamicRewrites::gemm)),
            Map.entry("MatMul", new Handler(MAT_MUL, DynamicRewrites::matMul)),
            Map.entry("LSTM", new Handler(null, DynamicRewrites::lstm)),
            Map.entry("Gather", new Handler(rule(Output.SAME_AS_INPUT, Role.ACTIVATION, Role.NONE), DynamicRewrites::gather)),
            Map.entry("GRU", new Handler(null, DynamicRewrites::noIntegerKernel)),
            Map.entry("RNN", new Handler(null, DynamicRewrites::noIntegerKernel)),
            Map.entry("Add", new Handler(allActivations(Output.CALIBRATED), null)),
            Map.entry("Mul", new Handler(allActivations(Output.CALIBRATED), null)),
            Map.entry("Concat", new Handler(allActivations(Output.CALIBRATED), null)),
            Map.entry("Relu", new Handler(rule(Output.REMOVABLE_ACTIVATION, Role.ACTIVATION), null)),
            Map.entry("Clip", new Handler(rule(Output.REMOVABLE_ACTIVATION, Role.ACTIVATION, Role.NONE, Role.NONE), null)),
            Map.entry("LeakyRelu", new Handler(rule(Output.CALIBRATED, Role.ACTIVATION), null)),
            Map.entry("MaxPool", new Handler(rule(Output.SAME_AS_INPUT, Role.ACTIVATION), null)),
            Map.entry("AveragePool", new Handler(rule(Output.CALIBRATED, Role.ACTIVATION), null)),
            Map.entry("GlobalAveragePool", new Handler(rule(Output.CALIBRATED, Role.ACTIVATION), null)),
            Map.entry("Reshape", new Handler(rule(Output.SAME_AS_INPUT, Role.ACTIVATION, Role.NONE), null)),
            Map.entry("Flatten", new Handler(rule(Output.SAME_AS_INPUT, Role.ACTIVATION), null)),
            Map.entry("Transpose", new Handler(rule(Output.SAME_AS_INPUT, Role.ACTIVATION), null)),
            Map.entry("Squeeze", new Handler(rule(Output.SAME_AS_INPUT, Role.ACTIVATION, Role.NONE), null)),
            Map.entry("Unsqueeze", new Handler(rule(Output.SAME_AS_INPUT, Role.ACTIVATION, Role.NONE), null)),
            Map.entry("Resize", new Handler(rule(Output.SAME_AS_INPUT, Role.ACTIVATION, Role.NONE, Role.NONE, Role.NONE), null)),
            Map.entry("Slice", new Handler(rule(Output.SAME_AS_INPUT, Role.ACTIVATION, Role.NONE, Role.NONE, Role.NONE,
                    Role.NONE), null)),
            Map.entry("Expand", new Handler(rule(Output.SAME_AS_INPUT, Role.ACTIVATION, Role.NONE), null)),
            Map.entry("Tile", new Handler(rule(Output.SAME_AS_INPUT, Role.ACTIVATION, Role.NONE), null)),
            Map.entry("Softmax", new Handler(rule(Output.UNIT_INTERVAL, Role.ACTIVATION), null)),
            Map.entry("Sigmoid", new Handler(rule(Output.UNIT_INTERVAL, Role.ACTIVATION), null)),
            Map.entry("HardSigmoid", new Handler(null, null, Decompositions::hardSigmoid)),
            Map.entry("HardSwish", new Handler(null, null, Decompositions::hardSwish)));

    /** Operator types {@code quantize-static} knows. */
    static final List<String> STATIC = HANDLERS.entrySet().stream()
            .filter(e -> e.getValue().qdq() != null || e.getValue().decomposer() != null)
            .map(Map.Entry::getKey).sorted().toList();

    /** Operator types {@code quantize-dynamic} knows. */
    static final List<String> DYNAMIC = HANDLERS.entrySet().stream().filter(e -> e.getValue().dynamic() != null)
            .map(Map.Entry::getKey).sorted().toList();

    private QuantOps() {
    }

    /** The handler of {@code node}'s operator; {@link #FLOAT} for operators outside the table and other domains. */
    static Handler handler(NodeProto node) {
        if (!node.getDomain().isEmpty() && !node.getDomain().equals("ai.onnx")) {
            return FLOAT;
        }
        return HANDLERS.getOrDefault(node.getOpType(), FLOAT);
    }

    static Optional<QdqRule> qdq(NodeProto node) {
        return handler(node).staticRule();
    }
}
