package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.train.Trainer;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Gradual magnitude pruning while training, as TensorFlow Model Optimization's
 * {@code PolynomialDecay(initial, final, begin_step=0, end_step, power=3, frequency)} schedules it: at
 * steps 1, 1 + frequency, 1 + 2·frequency, … and at the last step the masks are recomputed at
 * {@link #sparsityAt}; after <em>every</em> optimizer step the masked weights are set back to zero, so
 * that the next step feeds zeros. The last step's masks are at the final sparsity, which the trained
 * weights therefore have exactly.
 *
 * <p>A {@link Trainer.Listener}: register it with {@link Trainer.Builder#listener} before training,
 * one instance per run. Not thread-safe (the trainer calls it on its training thread).
 */
public final class PruningSchedule implements Trainer.Listener {
    /** The seed's exponent: sparsity rises fast at first, then levels off towards the final value. */
    public static final double POWER = 3;
    /** The seed's interval between mask updates, in optimizer steps. */
    public static final int FREQUENCY = 100;

    /** Computes the masks of the pruned tensors at one sparsity. */
    @FunctionalInterface
    public interface Masks {
        /**
         * Masks by parameter name, {@code true} where a weight is kept, for the current {@code parameters}
         * pruned to {@code sparsity} (the final sparsity is {@code sparsity == target}).
         */
        Map<String, boolean[]> compute(Map<String, float[]> parameters, double sparsity);
    }

    /** One mask update: the step it was made after and the sparsity it pruned to. */
    public record Update(long step, double sparsity) {
    }

    private final double initial;
    private final double target;
    private final long endStep;
    private final int frequency;
    private final Masks masks;
    private final List<Update> updates = new ArrayList<>();
    private Map<String, boolean[]> current = new LinkedHashMap<>();
    private Map<String, float[]> parameters;

    /**
     * @param initial sparsity of the first masks, at most {@code target}
     * @param target final sparsity, reached at {@code endStep}
     * @param endStep the run's last optimizer step: epochs times steps per epoch
     * @param frequency steps between mask updates
     */
    public PruningSchedule(double initial, double target, long endStep, int frequency, Masks masks) {
        if (!(initial >= 0 && initial <= target && target < 1)) {
            throw new IllegalArgumentException("sparsities must satisfy 0 <= initial <= final < 1: " + initial
                    + ", " + target);
        }
        if (endStep < 1 || frequency < 1) {
            throw new IllegalArgumentException("end step and frequency must be positive: " + endStep + ", " + frequency);
        }
        this.initial = initial;
        this.target = target;
        this.endStep = endStep;
        this.frequency = frequency;
        this.masks = masks;
    }

    /**
     * {@code target + (initial - target) · (1 - min(step, endStep) / endStep)^power}: {@code initial}
     * before the first step, {@code target} from {@code endStep} on.
     */
    public static double sparsityAt(double initial, double target, long step, long endStep, double power) {
        double progress = Math.min(1.0, (double) step / endStep);
        return target + (initial - target) * Math.pow(1 - progress, power);
    }

    /** Whether masks are recomputed after {@code step} (1-based): every {@code frequency} steps from the first, and at the last. */
    public static boolean updatesAt(long step, long endStep, int frequency) {
        return (step - 1) % frequency == 0 || step == endStep;
    }

    @Override
    public void afterStep(Trainer.Step step, Map<String, float[]> params) {
        this.parameters = params;
        if (updatesAt(step.step(), endStep, frequency)) {
            update(step.step(), sparsityAt(initial, target, step.step(), endStep, POWER));
        }
        apply(params);
    }

    /**
     * After the last epoch, makes sure the weights are at the final sparsity even if the run took a
     * different number of steps than planned (a dataset whose reader returns short blocks).
     */
    @Override
    public void afterEpoch(Trainer.EpochStats stats) {
        boolean last = stats.epoch() == stats.epochs();
        if (last && parameters != null && (updates.isEmpty() || updates.get(updates.size() - 1).sparsity() != target)) {
            update(updates.isEmpty() ? 0 : updates.get(updates.size() - 1).step(), target);
            apply(parameters);
        }
    }

    private void update(long step, double sparsity) {
        current = masks.compute(parameters, sparsity);
        updates.add(new Update(step, sparsity));
    }

    private void apply(Map<String, float[]> params) {
        for (var m : current.entrySet()) {
            float[] w = params.get(m.getKey());
            boolean[] keep = m.getValue();
            for (int i = 0; i < w.length; i++) {
                if (!keep[i]) {
                    w[i] = 0f;
                }
            }
        }
    }

    /** The mask updates made so far, in order. */
    public List<Update> updates() {
        return List.copyOf(updates);
    }
}
