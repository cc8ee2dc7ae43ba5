package io.modelrefinery.api.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A training loss: a weighted sum of terms, each comparing the model's output with a target fed as a
 * graph input. Classification terms read the logits: the input of the output's Sigmoid, Softmax or
 * LogSoftmax when there is one (for numerical stability), else the output itself. Immutable.
 *
 * <p>Terms and their targets (float, shaped like the logits, or the output for MSE):
 * <ul>
 * <li>{@link #crossEntropy()}: mean over samples of {@code -sum(t * log softmax(z))}, t one-hot or soft
 *     labels; on a single-logit (Sigmoid) output it is the binary cross-entropy.</li>
 * <li>{@link #binaryCrossEntropy()}: mean over elements of {@code -(t log sigmoid(z) + (1-t) log(1 - sigmoid(z)))}.</li>
 * <li>{@link #meanSquaredError()}: mean over elements of {@code (y - t)^2} on the output y.</li>
 * <li>{@link #klDivergence(double)}: {@code T^2 * KL(t || softmax(z / T))} per sample, t the teacher's
 *     probabilities softened at the same temperature (see {@link SoftTargets}); Hinton's scaling by T^2
 *     keeps its gradients comparable with those of the hard loss.</li>
 * </ul>
 */
public final class Loss {
    /** The target input the hard terms read. */
    public static final String TARGET = "target";
    /** The target input of the soft (teacher) term. */
    public static final String SOFT_TARGET = "soft_target";

    /** A kind of loss term. */
    public enum Kind {
        CROSS_ENTROPY, BINARY_CROSS_ENTROPY, MEAN_SQUARED_ERROR, KL_DIVERGENCE;

        /** Lowercase with hyphens, as in parameters and reports. */
        public String id() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }
    }

    /**
     * One term.
     *
     * @param kind the formula
     * @param weight its factor in the sum
     * @param temperature softening of the logits (KL divergence; 1 for the others)
     * @param target the name of the graph input holding its target
     */
    public record Term(Kind kind, double weight, double temperature, String target) {
        public Term {
            if (!(weight >= 0) || Double.isInfinite(weight)) {
                throw new IllegalArgumentException("loss weight must be a finite non-negative number: " + weight);
            }
            if (!(temperature > 0) || Double.isInfinite(temperature)) {
                throw new IllegalArgumentException("temperature must be positive: " + temperature);
            }
        }
    }

    private final List<Term> terms;

    private Loss(List<Term> terms) {
        this.terms = List.copyOf(terms);
    }

    public static Loss crossEntropy() {
        return new Loss(List.of(new Term(Kind.CROSS_ENTROPY, 1, 1, TARGET)));
    }

    public static Loss binaryCrossEntropy() {
        return new Loss(List.of(new Term(Kind.BINARY_CROSS_ENTROPY, 1, 1, TARGET)));
    }

    public static Loss meanSquaredError() {
        return new Loss(List.of(new Term(Kind.MEAN_SQUARED_ERROR, 1, 1, TARGET)));
    }

    public static Loss klDivergence(double temperature) {
        return new Loss(List.of(new Term(Kind.KL_DIVERGENCE, 1, temperature, SOFT_TARGET)));
    }

    /**
     * Knowledge distillation: {@code alpha * klDivergence(temperature) + (1 - alpha) * hard}.
     *
     * @param alpha the share of the teacher's soft targets, 0 to 1
     */
    public static Loss distillation(Loss hard, double temperature, double alpha) {
        if (!(alpha >= 0 && alpha <= 1)) {
            throw new IllegalArgumentException("alpha must be between 0 and 1: " + alpha);
        }
        return klDivergence(temperature).times(alpha).plus(hard.times(1 - alpha));
    }

    /** This loss with every term's weight multiplied by {@code factor}. */
    public Loss times(double factor) {
        List<Term> scaled = new ArrayList<>();
        for (Term t : terms) {
            scaled.add(new Term(t.kind(), t.weight() * factor, t.temperature(), t.target()));
        }
        return new Loss(scaled);
    }

    /** The sum of this loss and {@code other}. */
    public Loss plus(Loss other) {
        List<Term> all = new ArrayList<>(terms);
        all.addAll(other.terms);
        return new Loss(all);
    }

    public List<Term> terms() {
        return terms;
    }

    /** True if a term classifies (all but MSE): then accuracy is meaningful. */
    public boolean classifies() {
        return terms.stream().anyMatch(t -> t.kind() != Kind.MEAN_SQUARED_ERROR);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder();
        for (Term t : terms) {
            sb.append(sb.length() == 0 ? "" : " + ").append(String.format(Locale.ROOT, "%.3g*%s", t.weight(), t.kind().id()));
            if (t.kind() == Kind.KL_DIVERGENCE) {
                sb.append(String.format(Locale.ROOT, "(T=%.3g)", t.temperature()));
            }
        }
        return sb.toString();
    }
}
