package io.modelrefinery.api.train;

import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;

/**
 * Gradient rules by operator type (default ONNX domain). {@link #standard()} holds the built-in ones;
 * {@link #with} adds or replaces a rule. Immutable and thread-safe.
 *
 * <p>Built-in: Conv (input gradient by ConvTranspose, weight gradient by a convolution of the input with
 * the output gradient), Gemm, MatMul, Add, Sub, Mul, Div, Neg, Relu, Clip,
 * LeakyRelu, Sigmoid, Tanh, Softmax, LogSoftmax, MaxPool, AveragePool, GlobalAveragePool, Flatten,
 * Reshape, Squeeze, Unsqueeze, Transpose, Identity, Dropout, BatchNormalization (batch or running
 * statistics) and Concat. Everything emitted is a standard ONNX operator, so any ONNX Runtime build runs it.
 */
public final class GradientRules {
    private final Map<String, GradientRule> rules;

    private GradientRules(Map<String, GradientRule> rules) {
        this.rules = Collections.unmodifiableMap(rules);
    }

    /** The built-in rules. */
    public static GradientRules standard() {
        Map<String, GradientRule> r = new HashMap<>();
        r.put("Add", GradientRules::add);
        r.put("Sub", GradientRules::sub);
        r.put("Mul", GradientRules::mul);
        r.put("Div", GradientRules::div);
        r.put("Neg", c -> c.setInputGradient(0, c.neg(c.outputGradient(0))));
        r.put("Identity", c -> c.setInputGradient(0, c.outputGradient(0)));
        r.put("Dropout", only(0, c -> c.setInputGradient(0, c.outputGradient(0))));
        r.put("Relu", GradientRules::relu);
        r.put("Clip", only(0, GradientRules::clip));
        r.put("LeakyRelu", GradientRules::leakyRelu);
        r.put("Sigmoid", c -> {
            String y = c.output(0);
            c.setInputGradient(0, c.mul(c.outputGradient(0), c.mul(y, c.sub(c.scalar(1f), y))));
        });
        r.put("Tanh", c -> {
            String y = c.output(0);
            c.setInputGradient(0, c.mul(c.outputGradient(0), c.sub(c.scalar(1f), c.mul(y, y))));
        });
        r.put("Softmax", GradientRules::softmax);
        r.put("LogSoftmax", GradientRules::logSoftmax);
        r.put("Flatten", only(0, GradientRules::reshapeBack));
        r.put("Reshape", only(0, GradientRules::reshapeBack));
        r.put("Squeeze", only(0, GradientRules::reshapeBack));
        r.put("Unsqueeze", only(0, GradientRules::reshapeBack));
        r.put("Transpose", GradientRules::transpose);
        r.put("MatMul", GradientRules::matMul);
        r.put("Gemm", GradientRules::gemm);
        r.put("Conv", ConvRules::conv);
        r.put("MaxPool", only(0, ConvRules::maxPool));
        r.put("AveragePool", only(0, ConvRules::averagePool));
        r.put("GlobalAveragePool", ConvRules::globalAveragePool);
        r.put("BatchNormalization", inputs(Set.of(0, 1, 2), BatchNormRule::backward));
        r.put("Concat", GradientRules::concat);
        return new GradientRules(r);
    }

    /** These rules plus {@code rule} for {@code opType}, replacing any rule it had. */
    public GradientRules with(String opType, GradientRule rule) {
        Map<String, GradientRule> next = new HashMap<>(rules);
        next.put(opType, rule);
        return new GradientRules(next);
    }

    public Optional<GradientRule> rule(NodeProto node) {
        if (!node.getDomain().isEmpty() && !node.getDomain().equals("ai.onnx")) {
            return Optional.empty();
        }
        return Optional.ofNullable(rules.get(node.getOpType()));
    }

    /** The operator types with a rule, sorted. */
    public Set<String> opTypes() {
        return new TreeSet<>(rules.keySet());
    }

    // ---------------------------------------------------------------- helpers

    private static GradientRule only(int input, GradientRule backward) {
        return inputs(Set.of(input), backward);
    }

    private static GradientRule inputs(Set<Integer> differentiable, GradientRule backward) {
        return new GradientRule() {
            @Override
            public Set<Integer> differentiableInputs(NodeProto node) {
                return differentiable;
            }

            @Override
            public void backward(GradientContext context) {
                backward.backward(context);
            }
        };
    }

    private static void add(GradientContext c) {
        String dy = c.outputGradient(0);
        if (c.needsGradient(0)) {
            c.setInputGradient(0, c.unbroadcast(dy, c.input(0), c.output(0)));
        }
        if (c.needsGradient(1)) {
            c.setInputGradient(1, c.unbroadcast(dy, c.input(1), c.output(0)));
        }
    }

    private static void sub(GradientContext c) {
        String dy = c.outputGradient(0);
        if (c.needsGradient(0)) {
            c.setInputGradient(0, c.unbroadcast(dy, c.input(0), c.output(0)));
        }
        if (c.needsGradient(1)) {
            c.setInputGradient(1, c.unbroadcast(c.neg(dy), c.input(1), c.output(0)));
        }
    }

    private static void mul(GradientContext c) {
        String dy = c.outputGradient(0);
        if (c.needsGradient(0)) {
            c.setInputGradient(0, c.unbroadcast(c.mul(dy, c.input(1)), c.input(0), c.output(0)));
        }
        if (c.needsGradient(1)) {
            c.setInputGradient(1, c.unbroadcast(c.mul(dy, c.input(0)), c.input(1), c.output(0)));
        }
    }

    private static void div(GradientContext c) {
        String dy = c.outputGradient(0);
        String b = c.input(1);
        if (c.needsGradient(0)) {
            c.setInputGradient(0, c.unbroadcast(c.emit("Div", dy, b), c.input(0), c.output(0)));
        }
        if (c.needsGradient(1)) {
            // d(a/b)/db = -y/b
            String g = c.neg(c.mul(dy, c.emit("Div", c.output(0), b)));
            c.setInputGradient(1, c.unbroadcast(g, b, c.output(0)));
        }
    }

    private static void relu(GradientContext c) {
        String positive = c.emit("Greater", c.output(0), c.scalar(0f));
        c.setInputGradient(0, c.emit("Where", List.of(positive, c.outputGradient(0), c.scalar(0f))));
    }

    /** The gradient passes where the input lies strictly inside the bounds (inputs 1 and 2, each optional). */
    private static void clip(GradientContext c) {
        String x = c.input(0);
        String inside = null;
        if (c.node().getInputCount() > 1 && !c.input(1).isEmpty()) {
            inside = c.emit("Greater", x, c.input(1));
        }
        if (c.node().getInputCount() > 2 && !c.input(2).isEmpty()) {
            String below = c.emit("Less", x, c.input(2));
            inside = inside == null ? below : c.emit("And", inside, below);
        }
        c.setInputGradient(0, inside == null ? c.outputGradient(0)
                : c.emit("Where", List.of(inside, c.outputGradient(0), c.scalar(0f))));
    }

    private static void leakyRelu(GradientContext c) {
        float alpha = c.attrFloat("alpha", 0.01f);
        String positive = c.emit("Greater", c.input(0), c.scalar(0f));
        String slope = c.emit("Where", List.of(positive, c.scalar(1f), c.scalar(alpha)));
        c.setInputGradient(0, c.mul(c.outputGradient(0), slope));
    }

    private static long softmaxAxis(GradientContext c) {
        long axis = c.attrInt("axis", c.opset() >= 13 ? -1 : 1);
        int rank = c.rank(c.input(0));
        if (c.opset() < 13 && axis != rank - 1 && axis != -1) {
            // Before opset 13 softmax normalized the flattened trailing axes together.
            throw c.refuse("softmax over flattened axes (opset " + c.opset() + ", axis " + axis
                    + "); convert the model to opset 13 or later");
        }
        return axis < 0 ? axis + rank : axis;
    }

    private static void softmax(GradientContext c) {
        long axis = softmaxAxis(c);
        String y = c.output(0);
        String dy = c.outputGradient(0);
        String dot = c.reduceSum(c.mul(dy, y), new long[] {axis}, true);
        c.setInputGradient(0, c.mul(y, c.sub(dy, dot)));
    }

    private static void logSoftmax(GradientContext c) {
        long axis = softmaxAxis(c);
        String dy = c.outputGradient(0);
        String sum = c.reduceSum(dy, new long[] {axis}, true);
        c.setInputGradient(0, c.sub(dy, c.mul(c.emit("Exp", c.output(0)), sum)));
    }

    private static void reshapeBack(GradientContext c) {
        c.setInputGradient(0, c.reshapeLike(c.outputGradient(0), c.input(0)));
    }

    private static void transpose(GradientContext c) {
        int rank = c.rank(c.input(0));
        long[] perm = new long[rank];
        for (int i = 0; i < rank; i++) {
            perm[i] = rank - 1 - i;
        }
        perm = c.attrInts("perm", perm);
        long[] inverse = new long[rank];
        for (int i = 0; i < rank; i++) {
            inverse[(int) perm[i]] = i;
        }
        c.setInputGradient(0, c.emit("Transpose", c.outputGradient(0), attr("perm", inverse)));
    }

    private static String swapLastTwo(GradientContext c, String value) {
        int rank = c.rank(value);
        long[] perm = new long[rank];
        for (int i = 0; i < rank; i++) {
            perm[i] = i;
        }
        perm[rank - 1] = rank - 2;
        perm[rank - 2] = rank - 1;
        return c.emit("Transpose", value, attr("perm", perm));
    }

    private static void matMul(GradientContext c) {
        String a = c.input(0);
        String b = c.input(1);
        if (c.rank(a) < 2 || c.rank(b) < 2) {
            throw c.refuse("MatMul with a 1-D operand has no gradient rule; reshape it to 2-D");
        }
        String dy = c.outputGradient(0);
        if (c.needsGradient(0)) {
            c.setInputGradient(0, c.unbroadcast(c.emit("MatMul", dy, swapLastTwo(c, b)), a, c.output(0)));
        }
        if (c.needsGradient(1)) {
            String g = c.emit("MatMul", swapLastTwo(c, a), dy);
            c.setInputGradient(1, unbroadcastMatMul(c, g, b));
        }
    }

    /** Sums the leading (batch) axes that {@code b} was broadcast along. */
    private static String unbroadcastMatMul(GradientContext c, String g, String b) {
        long[] bs = c.shape(b);
        int gRank = Math.max(c.rank(c.output(0)), bs.length);
        List<Long> axes = new ArrayList<>();
        int lead = gRank - bs.length;
        for (int i = 0; i < gRank - 2; i++) {
            if (i < lead || bs[i - lead] == 1) {
                axes.add((long) i);
            }
        }
        if (axes.isEmpty()) {
            return g;
        }
        String summed = c.reduceSum(g, axes.stream().mapToLong(Long::longValue).toArray(), true);
        return c.reshapeLike(summed, b);
    }

    private static void gemm(GradientContext c) {
        float alpha = c.attrFloat("alpha", 1f);
        float beta = c.attrFloat("beta", 1f);
        long transA = c.attrInt("transA", 0);
        long transB = c.attrInt("transB", 0);
        String a = c.input(0);
        String b = c.input(1);
        String dy = c.outputGradient(0);
        if (c.needsGradient(0)) {
            String g = transA == 0
                    ? c.emit("Gemm", dy, b, attr("transB", transB == 0 ? 1L : 0L), attr("alpha", alpha))
                    : c.emit("Gemm", b, dy, attr("transA", transB), attr("transB", 1L), attr("alpha", alpha));
            c.setInputGradient(0, g);
        }
        if (c.needsGradient(1)) {
            String g = transB == 0
                    ? c.emit("Gemm", a, dy, attr("transA", transA == 0 ? 1L : 0L), attr("alpha", alpha))
                    : c.emit("Gemm", dy, a, attr("transA", 1L), attr("transB", transA), attr("alpha", alpha));
            c.setInputGradient(1, g);
        }
        if (c.needsGradient(2)) {
            String scaled = beta == 1f ? dy : c.mul(dy, c.scalar(beta));
            c.setInputGradient(2, c.unbroadcast(scaled, c.input(2), c.output(0)));
        }
    }

    private static void concat(GradientContext c) {
        int rank = c.rank(c.output(0));
        long axis = c.attrInt("axis", 0);
        if (axis < 0) {
            axis += rank;
        }
        long offset = 0;
        for (int i = 0; i < c.node().getInputCount(); i++) {
            long size = c.shape(c.input(i))[(int) axis];
            if (size < 0) {
                throw c.refuse("the size of input " + i + " along the concatenation axis is not static");
            }
            if (c.needsGradient(i)) {
                String slice = c.emit("Slice", List.of(c.outputGradient(0), c.longs(offset), c.longs(offset + size),
                        c.longs(axis)));
                c.setInputGradient(i, slice);
            }
            offset += size;
        }
    }
}
