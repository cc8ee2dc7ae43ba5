package io.modelrefinery.plugin.keras;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.plugin.convert.ChannelsLastGraph;
import io.modelrefinery.plugin.convert.ChannelsLastGraph.Value;

import java.util.List;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;

/**
 * Keras's MultiHeadAttention over sequences ({@code [batch, steps, features]}, attention along the steps):
 * the query, key and value projections, {@code softmax(q k^T / sqrt(key_dim))} per head, optionally with
 * Keras's causal mask, and the output projection, as MatMul, Softmax and Transpose nodes.
 */
final class Attention {
    /** What Keras adds to a masked score before the softmax (float32). */
    private static final float MASKED = -1e9f;

    private final ChannelsLastGraph graph;

    Attention(ChannelsLastGraph graph) {
        this.graph = graph;
    }

    /**
     * @param weights query, key, value and output kernels, each followed by its bias when {@code use_bias}
     */
    Value apply(Config c, Value query, Value key, Value value, boolean causal, List<Tensor> weights, String hint) {
        int heads = c.integer("num_heads", -1);
        int keyDim = c.integer("key_dim", -1);
        int valueDim = c.has("value_dim") ? c.integer("value_dim", -1) : keyDim;
        boolean bias = c.bool("use_bias", true);
        if (c.has("attention_axes") && !(c.raw("attention_axes") instanceof List<?> axes && axes.equals(List.of(1L)))) {
            throw new InvalidInputException("attention_axes " + c.raw("attention_axes") + " is not supported, only "
                    + "attention along the steps");
        }
        if (c.bool("use_gate", false)) {
            throw new InvalidInputException("gated attention is not supported");
        }
        for (Value v : List.of(query, key, value)) {
            if (v.rank() != 3) {
                throw new InvalidInputException("attention needs 3-D inputs [batch, steps, features], gets " + v);
            }
        }
        if (weights.size() != (bias ? 8 : 4)) {
            throw new InvalidInputException("expected " + (bias ? 8 : 4) + " weights, the file has " + weights.size());
        }
        int stride = bias ? 2 : 1;
        Tensor outKernel = weights.get(3 * stride);
        long outDim = outKernel.dim(outKernel.rank() - 1);
        long batch = query.dim(0);
        long steps = query.dim(1);
        long sourceSteps = value.dim(1);

        Value q = heads(project(query, weights, 0, stride, heads, keyDim, hint + "_query"), new int[] {0, 2, 1, 3},
                hint + "_query_heads");
        Value k = heads(project(key, weights, 1, stride, heads, keyDim, hint + "_key"), new int[] {0, 2, 3, 1},
                hint + "_key_heads");
        Value v = heads(project(value, weights, 2, stride, heads, valueDim, hint + "_value"), new int[] {0, 2, 1, 3},
                hint + "_value_heads");
        Value scaledQ = op("Mul", List.of(name(q), graph.constant(Tensor.scalar((float) (1 / Math.sqrt(keyDim))),
                hint + "_scale")), q.shape(), hint + "_query_scaled");
        Value scores = op("MatMul", List.of(name(scaledQ), name(k)), new long[] {batch, heads, steps, sourceSteps},
                hint + "_scores");
        if (causal) {
            scores = op("Add", List.of(name(scores), causalMask(steps, sourceSteps, hint)), scores.shape(),
                    hint + "_scores_masked");
        }
        Value weightsOfSteps = op("Softmax", List.of(name(scores)), scores.shape(), hint + "_attention",
                attr("axis", -1L));
        Value context = op("MatMul", List.of(name(weightsOfSteps), name(v)), new long[] {batch, heads, steps, valueDim},
                hint + "_context");
        Value merged = op("Transpose", List.of(name(context)), new long[] {batch, steps, heads, valueDim},
                hint + "_context_steps", attr("perm", new long[] {0, 2, 1, 3}));
        Value flat = op("Reshape", List.of(name(merged), shape(new long[] {0, 0, (long) heads * valueDim}, hint)),
                new long[] {batch, steps, (long) heads * valueDim}, hint + "_context_flat");
        Tensor wo = outKernel.reshape((long) heads * valueDim, outDim);
        Value out = op("MatMul", List.of(name(flat), graph.constant(wo, hint + "_output_kernel")),
                new long[] {batch, steps, outDim}, bias ? hint + "_output" : hint);
        if (bias) {
            out = op("Add", List.of(name(out), graph.constant(weights.get(7), hint + "_output_bias")), out.shape(), hint);
        }
        return out;
    }

    /** {@code x [batch, steps, dim] @ kernel [dim, heads, size] + bias [heads, size]} as {@code [batch, steps, heads, size]}. */
    private Value project(Value x, List<Tensor> weights, int index, int stride, int heads, int size, String hint) {
        Tensor kernel = weights.get(index * stride);
        long dim = x.dim(2);
        if (kernel.rank() != 3 || kernel.dim(1) != heads || kernel.dim(2) != size || (dim >= 0 && kernel.dim(0) != dim)) {
            throw new InvalidInputException("projection kernel " + kernel + " does not fit " + heads + " heads of "
                    + size + " on " + x);
        }
        long[] flatShape = {x.dim(0), x.dim(1), (long) heads * size};
        Value y = op("MatMul", List.of(graph.frameworkData(x), graph.constant(kernel.reshape(kernel.dim(0),
                (long) heads * size), hint + "_kernel")), flatShape, hint + "_matmul");
        if (stride == 2) {
            Tensor b = weights.get(index * stride + 1);
            y = op("Add", List.of(name(y), graph.constant(b.reshape((long) heads * size), hint + "_bias")), flatShape,
                    hint + "_biased");
        }
        return op("Reshape", List.of(name(y), shape(new long[] {0, 0, heads, size}, hint)),
                new long[] {x.dim(0), x.dim(1), heads, size}, hint);
    }

    private Value heads(Value x, int[] perm, String hint) {
        long[] shape = new long[4];
        for (int i = 0; i < 4; i++) {
            shape[i] = x.dim(perm[i]);
        }
        return op("Transpose", List.of(name(x)), shape, hint, attr("perm", java.util.Arrays.stream(perm)
                .asLongStream().toArray()));
    }

    /** Keras's causal mask: query step i sees source steps up to i; the others get {@link #MASKED} added. */
    private String causalMask(long steps, long sourceSteps, String hint) {
        if (steps < 0 || sourceSteps < 0) {
            throw new InvalidInputException("use_causal_mask needs sequences of a fixed length");
        }
        float[] mask = new float[Math.toIntExact(steps * sourceSteps)];
        for (int i = 0; i < steps; i++) {
            for (int j = 0; j < sourceSteps; j++) {
                mask[(int) (i * sourceSteps + j)] = j <= i ? 0f : MASKED;
            }
        }
        return graph.constant(Tensor.ofFloats(new long[] {steps, sourceSteps}, mask), hint + "_causal_mask");
    }

    private String shape(long[] target, String hint) {
        return graph.constant(Tensor.ofLongs(new long[] {target.length}, target), hint + "_shape");
    }

    private String name(Value v) {
        return graph.frameworkData(v);
    }

    private Value op(String type, List<String> inputs, long[] shape, String hint,
                     io.modelrefinery.api.onnx.proto.Onnx.AttributeProto... attrs) {
        return graph.operator(type, inputs, DataType.FLOAT, List.of(shape), hint, attrs).get(0);
    }
}
