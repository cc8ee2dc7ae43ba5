package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Tensors whose range follows from another tensor's, so that calibration does not measure them: the parts of a
 * decomposed operator, and the outputs of activations whose extremes over the samples follow from their input's
 * (HardSwish, SiLU). Each one calibration leaves out saves ONNX Runtime a copy of the tensor out of its blocked
 * layout, which costs more than the reductions themselves.
 */
final class DerivedRanges {
    /** A tensor whose range follows from the range of {@code source}. */
    sealed interface Derived {
        String source();

        TensorRange of(TensorRange range);
    }

    /**
     * A tensor {@code factor * Clip(source + shift, low, high)}, factor above zero: a non-decreasing function, so
     * its extremes over the samples are the function of its source's, as min-max would measure them.
     */
    record Gate(String source, float shift, float low, float high, float factor) implements Derived {
        @Override
        public TensorRange of(TensorRange range) {
            return new TensorRange(at(range.min()), at(range.max()));
        }

        private double at(double x) {
            return factor * Math.min(high, Math.max(low, x + shift));
        }
    }

    /** Activations that fall to their minimum at {@code bend} and rise after it. */
    enum Activation {
        /** {@code x * Clip(x + 3, 0, 6) / 6}: -0.375 at -1.5. */
        HARD_SWISH(-1.5) {
            @Override
            double at(double x) {
                return x * Math.min(6, Math.max(0, x + 3)) / 6;
            }
        },
        /** {@code x * sigmoid(x)}: -0.2785 at -1.2785. */
        SILU(-1.2784645427610738) {
            @Override
            double at(double x) {
                return x / (1 + Math.exp(-x));
            }
        };

        final double bend;

        Activation(double bend) {
            this.bend = bend;
        }

        abstract double at(double x);
    }

    /**
     * {@code activation(source)}. Its largest value over the samples is the larger of the activation at the
     * source's two ends, exactly (the samples' extremes are samples); its smallest is taken as the activation's
     * minimum when the source's range spans the bend (a sample's may lie a hair above it), else the smaller end.
     */
    record Dip(String source, Activation activation) implements Derived {
        @Override
        public TensorRange of(TensorRange range) {
            double atMin = activation.at(range.min());
            double atMax = activation.at(range.max());
            boolean spans = range.min() <= activation.bend && range.max() >= activation.bend;
            return new TensorRange(spans ? activation.at(activation.bend) : Math.min(atMin, atMax),
                    Math.max(atMin, atMax));
        }
    }

    private final Map<String, Derived> derived;

    DerivedRanges(Map<String, Derived> derived) {
        this.derived = Map.copyOf(derived);
    }

    /**
     * The gated activations of {@code model} as exporters write them: SiLU as {@code Mul(x, Sigmoid(x))}, and
     * HardSwish as {@code Mul(x, HardSigmoid(x))} with ONNX's HardSwish slope and offset (PyTorch below opset 14).
     */
    static Map<String, Derived> gatedActivations(OnnxModel model) {
        GraphIndex index = GraphIndex.of(model.graph());
        Map<String, Derived> found = new LinkedHashMap<>();
        for (NodeProto mul : model.graph().getNodeList()) {
            if (!mul.getOpType().equals("Mul") || !mul.getDomain().isEmpty() || mul.getInputCount() != 2) {
                continue;
            }
            for (int i = 0; i < 2; i++) {
                String x = mul.getInput(i);
                Optional<Activation> activation = index.producer(mul.getInput(1 - i))
                        .filter(gate -> gate.getDomain().isEmpty() && gate.getInput(0).equals(x))
                        .flatMap(DerivedRanges::gatedBy);
                if (activation.isPresent()) {
                    found.put(mul.getOutput(0), new Dip(x, activation.get()));
                    break;
                }
            }
        }
        return found;
    }

    /** The activation {@code x * gate(x)} is, for the gates that make one. */
    private static Optional<Activation> gatedBy(NodeProto gate) {
        if (gate.getOpType().equals("Sigmoid")) {
            return Optional.of(Activation.SILU);
        }
        boolean hardSwish = gate.getOpType().equals("HardSigmoid")
                && Math.abs(OnnxHelper.getFloat(gate, "alpha", 0.2f) - 1f / 6) < 1e-6
                && Math.abs(OnnxHelper.getFloat(gate, "beta", 0.5f) - 0.5f) < 1e-6;
        return hardSwish ? Optional.of(Activation.HARD_SWISH) : Optional.empty();
    }

    /** These and {@code more}. */
    DerivedRanges with(Map<String, Derived> more) {
        Map<String, Derived> all = new LinkedHashMap<>(derived);
        all.putAll(more);
        return new DerivedRanges(all);
    }

    /** What to calibrate for the ranges of {@code tensors}: a derived tensor's source in its place. */
    Set<String> sources(Set<String> tensors) {
        Set<String> sources = new LinkedHashSet<>();
        tensors.forEach(t -> sources.add(derived.containsKey(t) ? derived.get(t).source() : t));
        return sources;
    }

    /** The ranges of {@code tensors}, from {@code measured} ranges of their {@link #sources}. */
    Map<String, TensorRange> ranges(Set<String> tensors, Map<String, TensorRange> measured) {
        Map<String, TensorRange> ranges = new LinkedHashMap<>();
        for (String t : tensors) {
            Derived d = derived.get(t);
            TensorRange source = measured.get(d == null ? t : d.source());
            if (source != null) {
                ranges.put(t, d == null ? source : d.of(source));
            }
        }
        return ranges;
    }
}
