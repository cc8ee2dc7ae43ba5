package io.modelrefinery.api.train;

import java.util.List;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;

/**
 * The loss terms as ONNX nodes. Each returns {@code [loss, gradient]}: the scalar term and its gradient
 * with respect to the value it reads, derived by hand (the fused softmax and sigmoid forms are exact
 * and stable where differentiating the composition would not be).
 */
final class LossGraphs {
    private LossGraphs() {
    }

    /** 1 / (number of elements of {@code value}) as a float scalar. */
    private static String perElement(GradientContext c, String value) {
        return c.emit("Reciprocal", c.emit("Cast", c.emit("Size", value), attr("to", 1L)));
    }

    /** 1 / (number of rows of {@code value}), {@code classes} values per row. */
    private static String perRow(GradientContext c, String value, long classes) {
        return c.mul(perElement(c, value), c.scalar(classes));
    }

    private static String sumAll(GradientContext c, String value) {
        return c.emit("ReduceSum", List.of(value), attr("keepdims", 0L));
    }

    /** log(1 + exp(v)) computed without overflow: relu(v) + log(1 + exp(-|v|)). */
    private static String softplus(GradientContext c, String v) {
        String tail = c.emit("Log", c.add(c.scalar(1f), c.emit("Exp", c.neg(c.emit("Abs", v)))));
        return c.add(c.emit("Relu", v), tail);
    }

    static String[] meanSquaredError(GradientContext c, String y, String t) {
        String diff = c.sub(y, t);
        String scale = perElement(c, y);
        String loss = c.mul(sumAll(c, c.mul(diff, diff)), scale);
        String grad = c.mul(diff, c.mul(scale, c.scalar(2f)));
        return new String[] {loss, grad};
    }

    /** On logits z: mean of softplus(z) - z * t; gradient (sigmoid(z) - t) / count. */
    static String[] binaryCrossEntropy(GradientContext c, String z, String t) {
        String scale = perElement(c, z);
        String loss = c.mul(sumAll(c, c.sub(softplus(c, z), c.mul(z, t))), scale);
        String grad = c.mul(c.sub(c.emit("Sigmoid", z), t), scale);
        return new String[] {loss, grad};
    }

    /** On logits z [.., C]: mean over rows of -sum(t * log softmax(z)); gradient (softmax(z) - t) / rows. */
    static String[] crossEntropy(GradientContext c, String z, String t, long classes) {
        String scale = perRow(c, z, classes);
        String logp = c.emit("LogSoftmax", z, attr("axis", -1L));
        String loss = c.neg(c.mul(sumAll(c, c.mul(t, logp)), scale));
        String grad = c.mul(c.sub(c.emit("Softmax", z, attr("axis", -1L)), t), scale);
        return new String[] {loss, grad};
    }

    /**
     * T^2 * KL(p || q) with q the student's distribution at temperature T; gradient T * (q - p) per row.
     * Binary heads compare Bernoulli distributions element by element.
     */
    static String[] klDivergence(GradientContext c, String z, String p, double temperature, Head head, long classes) {
        float tt = (float) temperature;
        String zt = c.mul(z, c.scalar(1f / tt));
        String eps = c.scalar(1e-12f);
        if (head == Head.BINARY) {
            String scale = perElement(c, z);
            String q1 = c.sub(c.scalar(1f), p);
            // p log p + (1-p) log(1-p) - p log q - (1-p) log(1-q), with -log q = softplus(-z/T), -log(1-q) = softplus(z/T)
            String entropy = c.add(c.mul(p, c.emit("Log", c.add(p, eps))), c.mul(q1, c.emit("Log", c.add(q1, eps))));
            String cross = c.add(c.mul(p, softplus(c, c.neg(zt))), c.mul(q1, softplus(c, zt)));
            String loss = c.mul(c.mul(sumAll(c, c.add(entropy, cross)), scale), c.scalar(tt * tt));
            String grad = c.mul(c.sub(c.emit("Sigmoid", zt), p), c.mul(scale, c.scalar(tt)));
            return new String[] {loss, grad};
        }
        String scale = perRow(c, z, classes);
        String logq = c.emit("LogSoftmax", zt, attr("axis", -1L));
        String pointwise = c.mul(p, c.sub(c.emit("Log", c.add(p, eps)), logq));
        String loss = c.mul(c.mul(sumAll(c, pointwise), scale), c.scalar(tt * tt));
        String grad = c.mul(c.sub(c.emit("Softmax", zt, attr("axis", -1L)), p), c.mul(scale, c.scalar(tt)));
        return new String[] {loss, grad};
    }
}
