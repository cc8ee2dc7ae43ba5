package io.modelrefinery.api.train;

import io.modelrefinery.api.onnx.OnnxHelper;

import java.util.Arrays;
import java.util.List;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;

/**
 * BatchNormalization in training. {@link TrainingOptions.BatchNormMode#BATCH}: the forward node is
 * replaced by its computation from batch statistics, whose values become graph outputs so that the
 * trainer can update the running statistics; {@link TrainingOptions.BatchNormMode#FOLDED}: the running
 * statistics normalize and stay as they are, the layer is an affine map per channel.
 */
final class BatchNormRule {
    private BatchNormRule() {
    }

    static void backward(GradientContext c) {
        String x = c.input(0);
        String scale = c.input(1);
        String bias = c.input(2);
        String mean = c.input(3);
        String var = c.input(4);
        String y = c.output(0);
        long[] xs = c.shape(x);
        int rank = xs.length;
        if (rank < 2 || xs[1] < 0) {
            throw c.refuse("the channel count of '" + x + "' is not static");
        }
        long channels = xs[1];
        long[] axes = new long[rank - 1];
        axes[0] = 0;
        for (int i = 2; i < rank; i++) {
            axes[i - 1] = i;
        }
        long[] broadcast = new long[rank];
        Arrays.fill(broadcast, 1);
        broadcast[1] = channels;
        String bshape = c.longs(broadcast);
        float epsilon = c.attrFloat("epsilon", 1e-5f);
        float momentum = c.attrFloat("momentum", 0.9f);
        String dy = c.outputGradient(0);
        String scaleB = c.emit("Reshape", scale, bshape);

        if (c.options().batchNorm() == TrainingOptions.BatchNormMode.FOLDED) {
            String inv = c.emit("Reciprocal", c.emit("Sqrt", c.add(var, c.scalar(epsilon))));
            String invB = c.emit("Reshape", inv, bshape);
            if (c.needsGradient(0)) {
                c.setInputGradient(0, c.mul(dy, c.mul(scaleB, invB)));
            }
            String xhat = c.mul(c.sub(x, c.emit("Reshape", mean, bshape)), invB);
            c.setInputGradient(1, c.reduceSum(c.mul(dy, xhat), axes, false));
            c.setInputGradient(2, c.reduceSum(dy, axes, false));
            return;
        }

        // Forward from batch statistics (population variance, as ONNX's training mode defines it).
        String batchMean = c.reduceMean(x, axes, true);
        String centered = c.sub(x, batchMean);
        String batchVar = c.reduceMean(c.mul(centered, centered), axes, true);
        String inv = c.emit("Reciprocal", c.emit("Sqrt", c.add(batchVar, c.scalar(epsilon))));
        String xhat = c.mul(centered, inv);
        String scaled = c.mul(xhat, scaleB);
        String biasB = c.emit("Reshape", bias, bshape);
        c.replaceForward(List.of(OnnxHelper.node("Add", List.of(scaled, biasB), List.of(y))));
        String meanOut = c.emit("Reshape", batchMean, c.longs(channels));
        String varOut = c.emit("Reshape", batchVar, c.longs(channels));
        c.addOutput(meanOut);
        c.addOutput(varOut);
        c.owner().runningStatistics(mean, var, meanOut, varOut, momentum);

        String sumDy = c.reduceSum(dy, axes, true);
        String sumDyXhat = c.reduceSum(c.mul(dy, xhat), axes, true);
        if (c.needsGradient(0)) {
            // dX = scale / sqrt(var + eps) / M * (M * dY - sum(dY) - xhat * sum(dY * xhat)), M values per channel
            String m = c.mul(c.emit("Cast", c.emit("Size", x), attr("to", 1L)), c.scalar(1f / channels));
            String inner = c.sub(c.sub(c.mul(dy, m), sumDy), c.mul(xhat, sumDyXhat));
            String factor = c.emit("Div", c.mul(scaleB, inv), m);
            c.setInputGradient(0, c.mul(factor, inner));
        }
        c.setInputGradient(1, c.emit("Reshape", sumDyXhat, c.longs(channels)));
        c.setInputGradient(2, c.emit("Reshape", sumDy, c.longs(channels)));
    }
}
