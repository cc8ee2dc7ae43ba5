package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * How each operator is quantized in QDQ form: the role of each input, and where its output's
 * quantization comes from. Operators not listed stay float (their neighbours' Q/DQ pairs feed them).
 */
final class QdqOps {
    /** What an input is. */
    enum Role {
        /** A value computed at run time: quantized with its calibrated range, Q then DQ. */
        ACTIVATION,
        /** A constant weight: stored 8-bit, per channel when the operator allows it, DQ only. */
        WEIGHT,
        /** A constant bias added to the weight product: stored int32 with scale input*weight. */
        BIAS,
        /** Left as it is: shapes, axes, limits. */
        NONE
    }

    /** Where the output's scale and zero point come from. */
    enum Output {
        /** Its own calibrated range. */
        CALIBRATED,
        /** The first input's: the operator only moves or picks values (pooling max, reshapes). */
        SAME_AS_INPUT,
        /** The fixed range [0, 1] of probabilities. */
        UNIT_INTERVAL,
        /** Calibrated, and the operator itself can disappear into the producer's quantization (ReLU, Clip). */
        REMOVABLE_ACTIVATION
    }

    /**
     * One operator's rule.
     *
     * @param output where its output's parameters come from
     */
    record Rule(Output output, RoleFunction roles, AxisFunction weightAxis) {
        List<Role> rolesOf(NodeProto node, Constants constants) {
            return roles.roles(node, constants);
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

    private static final AxisFunction NO_AXIS = (node, rank) -> -1;

    private static Rule rule(Output output, Role... roles) {
        List<Role> fixed = List.of(roles);
        return new Rule(output, (node, constants) -> fixed, NO_AXIS);
    }

    /** Every input an activation (constants among them quantized per tensor as weights). */
    private static Rule allActivations(Output output) {
        return new Rule(output, (node, constants) -> node.getInputList().stream()
                .map(in -> constants.isConstant(in) ? Role.WEIGHT : Role.ACTIVATION).toList(), NO_AXIS);
    }

    private static final Map<String, Rule> RULES = Map.ofEntries(
            Map.entry("Conv", new Rule(Output.CALIBRATED, (node, c) -> List.of(Role.ACTIVATION, Role.WEIGHT, Role.BIAS),
                    (node, rank) -> 0)),
            Map.entry("Gemm", new Rule(Output.CALIBRATED, (node, c) -> List.of(Role.ACTIVATION,
                            c.isConstant(node.getInput(1)) ? Role.WEIGHT : Role.ACTIVATION,
                            node.getInputCount() > 2 && c.isConstant(node.getInput(2))
                                    && OnnxHelper.getFloat(node, "beta", 1f) == 1f ? Role.BIAS : Role.NONE),
                    (node, rank) -> OnnxHelper.getInt(node, "transB", 0) == 1 ? 0 : 1)),
            Map.entry("MatMul", new Rule(Output.CALIBRATED, (node, c) -> List.of(Role.ACTIVATION,
                    c.isConstant(node.getInput(1)) ? Role.WEIGHT : Role.ACTIVATION), (node, rank) -> rank - 1)),
            Map.entry("Add", allActivations(Output.CALIBRATED)),
            Map.entry("Mul", allActivations(Output.CALIBRATED)),
            Map.entry("Concat", allActivations(Output.CALIBRATED)),
            Map.entry("Relu", rule(Output.REMOVABLE_ACTIVATION, Role.ACTIVATION)),
            Map.entry("Clip", rule(Output.REMOVABLE_ACTIVATION, Role.ACTIVATION, Role.NONE, Role.NONE)),
            Map.entry("MaxPool", rule(Output.SAME_AS_INPUT, Role.ACTIVATION)),
            Map.entry("AveragePool", rule(Output.CALIBRATED, Role.ACTIVATION)),
            Map.entry("GlobalAveragePool", rule(Output.CALIBRATED, Role.ACTIVATION)),
            Map.entry("Reshape", rule(Output.SAME_AS_INPUT, Role.ACTIVATION, Role.NONE)),
            Map.entry("Flatten", rule(Output.SAME_AS_INPUT, Role.ACTIVATION)),
            Map.entry("Transpose", rule(Output.SAME_AS_INPUT, Role.ACTIVATION)),
            Map.entry("Squeeze", rule(Output.SAME_AS_INPUT, Role.ACTIVATION, Role.NONE)),
            Map.entry("Unsqueeze", rule(Output.SAME_AS_INPUT, Role.ACTIVATION, Role.NONE)),
            Map.entry("Resize", rule(Output.SAME_AS_INPUT, Role.ACTIVATION, Role.NONE, Role.NONE, Role.NONE)),
            Map.entry("Softmax", rule(Output.UNIT_INTERVAL, Role.ACTIVATION)),
            Map.entry("Sigmoid", rule(Output.UNIT_INTERVAL, Role.ACTIVATION)));

    /** Operator types {@code quantize-static} knows. */
    static final List<String> SUPPORTED = RULES.keySet().stream().sorted().toList();

    private QdqOps() {
    }

    static Optional<Rule> rule(NodeProto node) {
        if (!node.getDomain().isEmpty() && !node.getDomain().equals("ai.onnx")) {
            return Optional.empty();
        }
        return Optional.ofNullable(RULES.get(node.getOpType()));
    }
}
