package io.modelrefinery.plugin.keras;

import com.google.protobuf.ByteString;
import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.plugin.convert.ChannelsLastGraph;
import io.modelrefinery.plugin.convert.ChannelsLastGraph.Value;
import io.modelrefinery.plugin.convert.TensorLayouts;

import java.util.ArrayList;
import java.util.List;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;

/**
 * Keras's recurrent layers (SimpleRNN, LSTM, GRU, alone or in a Bidirectional wrapper) as ONNX's RNN,
 * LSTM and GRU operators, with Keras's semantics of {@code return_sequences}, {@code return_state} and
 * {@code go_backwards}: a backward layer's sequence comes out in the order it was processed (last input
 * step first), while Bidirectional puts its backward half back in input order, as Keras does.
 */
final class Recurrent {
    private final ChannelsLastGraph graph;
    private final Activations activations;

    Recurrent(ChannelsLastGraph graph, Activations activations) {
        this.graph = graph;
        this.activations = activations;
    }

    /** What distinguishes the three kinds: ONNX operator, gates, and Keras's gate order in ONNX's order. */
    enum Kind {
        SIMPLE_RNN("RNN", 1, new int[] {0}),
        LSTM("LSTM", 4, new int[] {0, 3, 1, 2}), // Keras i, f, c, o; ONNX i, o, f, c
        GRU("GRU", 3, new int[] {0, 1, 2}); // z, r, h in both

        final String op;
        final int gates;
        final int[] onnxOrder;

        Kind(String op, int gates, int[] onnxOrder) {
            this.op = op;
            this.gates = gates;
            this.onnxOrder = onnxOrder;
        }

        static Kind of(String className) {
            return switch (className) {
                case "SimpleRNN" -> SIMPLE_RNN;
                case "LSTM" -> LSTM;
                case "GRU" -> GRU;
                default -> throw new InvalidInputException("unsupported recurrent layer class " + className);
            };
        }
    }

    /** One direction's weights, read from Keras's {@code kernel}, {@code recurrent_kernel} and {@code bias}. */
    record Direction(Config config, Kind kind, int units, Tensor w, Tensor r, Tensor b) {
    }

    /** A recurrent layer's configuration and weights in Keras's layout, checked. */
    /** Reads one direction: {@code weights} are Keras's kernel, recurrent kernel and (unless use_bias is off) bias. */
    Direction direction(String className, Config c, List<Tensor> weights, long inputFeatures) {
        Kind kind = Kind.of(className);
        refuseUnsupported(c);
        int units = c.integer("units", -1);
        boolean useBias = c.bool("use_bias", true);
        if (weights.size() != (useBias ? 3 : 2)) {
            throw new InvalidInputException("expected " + (useBias ? 3 : 2) + " weights, the file has " + weights.size());
        }
        Tensor kernel = weights.get(0);
        Tensor recurrent = weights.get(1);
        int g = kind.gates;
        if (kernel.rank() != 2 || kernel.dim(1) != (long) g * units || recurrent.rank() != 2
                || recurrent.dim(0) != units || recurrent.dim(1) != (long) g * units) {
            throw new InvalidInputException("kernel " + kernel + " and recurrent kernel " + recurrent + " do not fit "
                    + units + " units");
        }
        if (inputFeatures >= 0 && kernel.dim(0) != inputFeatures) {
            throw new InvalidInputException("kernel expects " + kernel.dim(0) + " input features, gets " + inputFeatures);
        }
        Tensor w = gatesFirst(kernel, kind, units);
        Tensor r = gatesFirst(recurrent, kind, units);
        Tensor b = null;
        if (useBias) {
            float[] bias = weights.get(2).toFloatArray();
            float[] both = new float[2 * g * units];
            boolean resetAfter = kind == Kind.GRU && c.bool("reset_after", false);
            if (resetAfter && bias.length == 2 * g * units) { // [2, 3u]: input bias, then recurrent bias
                System.arraycopy(reorder(java.util.Arrays.copyOfRange(bias, 0, g * units), kind, units), 0, both, 0, g * units);
                System.arraycopy(reorder(java.util.Arrays.copyOfRange(bias, g * units, 2 * g * units), kind, units), 0,
                        both, g * units, g * units);
            } else if (bias.length == g * units && !resetAfter) { // Keras adds one bias; ONNX's recurrent one stays 0
                System.arraycopy(reorder(bias, kind, units), 0, both, 0, g * units);
            } else {
                throw new InvalidInputException("bias of " + bias.length + " values does not fit " + units + " units"
                        + (kind == Kind.GRU ? " with reset_after=" + resetAfter : ""));
            }
            b = Tensor.ofFloats(new long[] {2L * g * units}, both);
        }
        return new Direction(c, kind, units, w, r, b);
    }

    private static void refuseUnsupported(Config c) {
        if (c.bool("time_major", false)) {
            throw new InvalidInputException("time_major=true is not supported");
        }
    }

    /** Keras's {@code [in, gates * units]} as ONNX's {@code [gates * units, in]}, gates in ONNX's order. */
    private static Tensor gatesFirst(Tensor t, Kind kind, int units) {
        Tensor transposed = TensorLayouts.transpose(t, 1, 0);
        int[] rows = new int[kind.gates * units];
        for (int gate = 0; gate < kind.gates; gate++) {
            for (int u = 0; u < units; u++) {
                rows[gate * units + u] = kind.onnxOrder[gate] * units + u;
            }
        }
        return TensorLayouts.takeRows(transposed, rows);
    }

    private static float[] reorder(float[] bias, Kind kind, int units) {
        float[] out = new float[bias.length];
        for (int gate = 0; gate < kind.gates; gate++) {
            System.arraycopy(bias, kind.onnxOrder[gate] * units, out, gate * units, units);
        }
        return out;
    }

    /**
     * The layer's outputs as Keras returns them: the output (the last step's, or the whole sequence), then
     * with {@code return_state} the final states ({@code h}, and {@code c} for an LSTM).
     *
     * @param backward for Bidirectional: the backward direction, or null for a one-way layer
     * @param mergeMode for Bidirectional: concat, sum, mul, ave or null (two outputs)
     */
    List<Value> apply(Value x, Direction forward, Direction backward, String mergeMode, String hint) {
        if (x.rank() != 3) {
            throw new InvalidInputException("a recurrent layer needs a 3-D input [batch, steps, features], gets " + x);
        }
        Config c = forward.config();
        boolean sequences = c.bool("return_sequences", false);
        boolean state = c.bool("return_state", false);
        boolean goBackwards = c.bool("go_backwards", false);
        if (backward != null && goBackwards) {
            throw new InvalidInputException("a Bidirectional layer whose forward layer goes backwards is not supported");
        }
        if (backward != null && (backward.kind() != forward.kind() || backward.units() != forward.units())) {
            throw new InvalidInputException("a Bidirectional layer with a different backward layer is not supported");
        }
        int units = forward.units();
        long batch = x.dim(0);
        long steps = x.dim(1);
        int directions = backward == null ? 1 : 2;
        Kind kind = forward.kind();

        // ONNX's recurrent operators read [steps, batch, features].
        Value timeMajor = transpose(x, new int[] {1, 0, 2}, hint + "_time_major");
        List<String> inputs = new ArrayList<>(List.of(graph.frameworkData(timeMajor),
                graph.constant(stack(forward.w(), backward == null ? null : backward.w()), hint + "_W"),
                graph.constant(stack(forward.r(), backward == null ? null : backward.r()), hint + "_R")));
        if (forward.b() != null) {
            inputs.add(graph.constant(stack(forward.b(), backward == null ? null : backward.b()), hint + "_B"));
        }
        List<AttributeProto> attrs = new ArrayList<>();
        attrs.add(attr("hidden_size", (long) units));
        attrs.add(attr("direction", backward != null ? "bidirectional" : goBackwards ? "reverse" : "forward"));
        List<Activations.Recurrent> fns = new ArrayList<>();
        for (Direction d : backward == null ? List.of(forward) : List.of(forward, backward)) {
            fns.addAll(functions(d));
        }
        attrs.add(strings("activations", fns.stream().map(Activations.Recurrent::onnxName).toList()));
        // ONNX Runtime takes alpha and beta in the order of the activations that use them.
        List<Float> alphas = fns.stream().map(Activations.Recurrent::alpha).filter(a -> !a.isNaN()).toList();
        List<Float> betas = fns.stream().map(Activations.Recurrent::beta).filter(b -> !b.isNaN()).toList();
        if (!alphas.isEmpty()) {
            attrs.add(attr("activation_alpha", floats(alphas)));
        }
        if (!betas.isEmpty()) {
            attrs.add(attr("activation_beta", floats(betas)));
        }
        if (kind == Kind.GRU && forward.config().bool("reset_after", false)) {
            attrs.add(attr("linear_before_reset", 1L));
        }
        List<long[]> shapes = new ArrayList<>(List.of(new long[] {steps, directions, batch, units},
                new long[] {directions, batch, units}));
        if (kind == Kind.LSTM) {
            shapes.add(new long[] {directions, batch, units});
        }
        List<Value> y = graph.operator(kind.op, inputs, DataType.FLOAT, shapes, hint + "_" + kind.op.toLowerCase(),
                attrs.toArray(AttributeProto[]::new));

        List<Value> out = new ArrayList<>();
        if (backward == null) {
            Value output;
            if (sequences) {
                Value seq = graph.operator("Squeeze", List.of(graph.frameworkData(y.get(0)), graph.constant(
                        Tensor.ofLongs(new long[] {1}, 1), hint + "_axes")), DataType.FLOAT,
                        List.of(new long[] {steps, batch, units}), hint + "_steps").get(0);
                output = transpose(seq, new int[] {1, 0, 2}, goBackwards ? hint + "_reversed" : hint);
                if (goBackwards) { // Keras returns the steps in the order it processed them
                    output = reverseSteps(output, hint);
                }
            } else {
                output = squeezeDirections(y.get(1), batch, units, hint);
            }
            out.add(output);
            if (state) {
                out.add(squeezeDirections(y.get(1), batch, units, hint + "_h"));
                if (kind == Kind.LSTM) {
                    out.add(squeezeDirections(y.get(2), batch, units, hint + "_c"));
                }
            }
            return out;
        }
        out.addAll(merge(y.get(0), y.get(1), sequences, mergeMode, steps, batch, units, hint));
        if (state) {
            for (int d = 0; d < 2; d++) {
                out.add(direction(y.get(1), d, batch, units, hint + (d == 0 ? "_forward_h" : "_backward_h")));
                if (kind == Kind.LSTM) {
                    out.add(direction(y.get(2), d, batch, units, hint + (d == 0 ? "_forward_c" : "_backward_c")));
                }
            }
        }
        return out;
    }

    /** A Bidirectional layer's two directions merged as Keras's {@code merge_mode} says. */
    private List<Value> merge(Value y, Value yh, boolean sequences, String mode, long steps, long batch, int units,
                              String hint) {
        if (mode == null) {
            if (sequences) {
                return List.of(sequenceOf(y, 0, steps, batch, units, hint + "_forward"),
                        sequenceOf(y, 1, steps, batch, units, hint + "_backward"));
            }
            return List.of(direction(yh, 0, batch, units, hint + "_forward"),
                    direction(yh, 1, batch, units, hint + "_backward"));
        }
        if (mode.equals("concat")) {
            if (sequences) { // [steps, 2, batch, units] -> [batch, steps, 2, units] -> [batch, steps, 2 units]
                Value t = transpose(y, new int[] {2, 0, 1, 3}, hint + "_batch_major");
                return List.of(reshape(t, new long[] {0, 0, -1}, new long[] {batch, steps, 2L * units}, hint));
            }
            Value t = transpose(yh, new int[] {1, 0, 2}, hint + "_batch_major");
            return List.of(reshape(t, new long[] {0, -1}, new long[] {batch, 2L * units}, hint));
        }
        List<Value> halves = merge(y, yh, sequences, null, steps, batch, units, hint);
        Value forward = halves.get(0);
        Value backward = halves.get(1);
        return switch (mode) {
            case "sum" -> List.of(graph.binary("Add", forward, backward, hint));
            case "mul" -> List.of(graph.binary("Mul", forward, backward, hint));
            case "ave" -> List.of(graph.binary("Mul", graph.binary("Add", forward, backward, hint + "_sum"),
                    io.modelrefinery.plugin.convert.Weight.of(Tensor.scalar(0.5f)), false, hint));
            default -> throw new InvalidInputException("merge_mode '" + mode + "' is not supported");
        };
    }

    /** The activations of one direction, in ONNX's order: f, g (and h for an LSTM). */
    private List<Activations.Recurrent> functions(Direction d) {
        Config c = d.config();
        // A null activation is Keras's linear one; a missing one its default.
        Activations.Recurrent act = activations.recurrent(c.map().containsKey("activation") ? c.raw("activation")
                : "tanh");
        if (d.kind() == Kind.SIMPLE_RNN) {
            return List.of(act);
        }
        Activations.Recurrent gate = activations.recurrent(c.map().containsKey("recurrent_activation")
                ? c.raw("recurrent_activation") : "sigmoid");
        return d.kind() == Kind.LSTM ? List.of(gate, act, act) : List.of(gate, act);
    }

    private static Tensor stack(Tensor forward, Tensor backward) {
        long[] shape = forward.shape();
        long[] stacked = new long[shape.length + 1];
        stacked[0] = backward == null ? 1 : 2;
        System.arraycopy(shape, 0, stacked, 1, shape.length);
        if (backward == null) {
            return forward.reshape(stacked);
        }
        float[] a = forward.toFloatArray();
        float[] b = backward.toFloatArray();
        float[] both = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, both, a.length, b.length);
        return Tensor.ofFloats(stacked, both);
    }

    /** {@code [1, batch, units]} to {@code [batch, units]}. */
    private Value squeezeDirections(Value v, long batch, int units, String hint) {
        return reshape(v, new long[] {-1, units}, new long[] {batch, units}, hint);
    }

    /** Direction {@code d} of {@code [2, batch, units]}. */
    private Value direction(Value v, int d, long batch, int units, String hint) {
        Value slice = slice(v, 0, d, d + 1, new long[] {1, batch, units}, hint + "_slice");
        return squeezeDirections(slice, batch, units, hint);
    }

    /** Direction {@code d} of {@code [steps, 2, batch, units]} as {@code [batch, steps, units]}. */
    private Value sequenceOf(Value y, int d, long steps, long batch, int units, String hint) {
        Value slice = slice(y, 1, d, d + 1, new long[] {steps, 1, batch, units}, hint + "_slice");
        Value seq = reshape(slice, new long[] {0, -1, units}, new long[] {steps, batch, units}, hint + "_steps");
        return transpose(seq, new int[] {1, 0, 2}, hint);
    }

    private Value reverseSteps(Value x, String hint) {
        String starts = graph.constant(Tensor.ofLongs(new long[] {1}, -1), hint + "_starts");
        String ends = graph.constant(Tensor.ofLongs(new long[] {1}, Long.MIN_VALUE), hint + "_ends");
        String axes = graph.constant(Tensor.ofLongs(new long[] {1}, 1), hint + "_axes");
        String steps = graph.constant(Tensor.ofLongs(new long[] {1}, -1), hint + "_step");
        return graph.operator("Slice", List.of(graph.frameworkData(x), starts, ends, axes, steps), x.type(),
                List.of(x.shape()), hint).get(0);
    }

    private Value slice(Value x, int axis, long start, long end, long[] shape, String hint) {
        String starts = graph.constant(Tensor.ofLongs(new long[] {1}, start), hint + "_starts");
        String ends = graph.constant(Tensor.ofLongs(new long[] {1}, end), hint + "_ends");
        String axes = graph.constant(Tensor.ofLongs(new long[] {1}, axis), hint + "_axes");
        return graph.operator("Slice", List.of(graph.frameworkData(x), starts, ends, axes), x.type(), List.of(shape),
                hint).get(0);
    }

    private Value transpose(Value x, int[] perm, String hint) {
        long[] shape = new long[perm.length];
        for (int i = 0; i < perm.length; i++) {
            shape[i] = x.dim(perm[i]);
        }
        return graph.operator("Transpose", List.of(graph.frameworkData(x)), x.type(), List.of(shape), hint,
                attr("perm", java.util.Arrays.stream(perm).asLongStream().toArray())).get(0);
    }

    private Value reshape(Value x, long[] target, long[] shape, String hint) {
        String t = graph.constant(Tensor.ofLongs(new long[] {target.length}, target), hint + "_shape");
        return graph.operator("Reshape", List.of(graph.frameworkData(x), t), x.type(), List.of(shape), hint).get(0);
    }

    private static AttributeProto strings(String name, List<String> values) {
        AttributeProto.Builder b = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.STRINGS);
        values.forEach(v -> b.addStrings(ByteString.copyFromUtf8(v)));
        return b.build();
    }

    private static float[] floats(List<Float> values) {
        float[] out = new float[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = values.get(i);
        }
        return out;
    }
}
