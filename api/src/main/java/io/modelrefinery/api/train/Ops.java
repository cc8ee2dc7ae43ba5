package io.modelrefinery.api.train;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;

/** Emits operators whose signature depends on the operator set. */
final class Ops {
    private Ops() {
    }

    /** A reduction over {@code axes}: axes are an input from opset 13 (ReduceSum) or 18 (the others). */
    static String reduce(GradientContext c, String op, String value, long[] axes, boolean keepDims) {
        long axesAsInput = op.equals("ReduceSum") ? 13 : 18;
        if (c.opset() >= axesAsInput) {
            return c.emit(op, value, c.longs(axes), attr("keepdims", keepDims ? 1L : 0L));
        }
        return c.emit(op, java.util.List.of(value), attr("axes", axes), attr("keepdims", keepDims ? 1L : 0L));
    }
}
