package io.modelrefinery.api.train;

import java.util.HashMap;
import java.util.Map;

/**
 * Updates parameters from their gradients, in place, in Java (the update is cheap next to the graph run).
 * Holds per-parameter state (momentum, moments), so one optimizer serves one training run. Not thread-safe.
 */
public interface Optimizer {

    /** Applies one step to every parameter: {@code parameters} and {@code gradients} by name. */
    void step(Map<String, float[]> parameters, Map<String, float[]> gradients);

    double learningRate();

    /** Changes the learning rate from the next step on (schedules). */
    void learningRate(double rate);

    /**
     * SGD as PyTorch defines it: {@code v = momentum * v + g + decay * p; p -= rate * v}.
     *
     * @param momentum 0 for plain SGD
     * @param weightDecay L2 penalty factor, 0 for none
     */
    static Optimizer sgd(double rate, double momentum, double weightDecay) {
        return new Sgd(rate, momentum, weightDecay);
    }

    /** Adam (Kingma and Ba) with bias correction, L2 weight decay added to the gradient as PyTorch's Adam does. */
    static Optimizer adam(double rate, double beta1, double beta2, double epsilon, double weightDecay) {
        return new Adam(rate, beta1, beta2, epsilon, weightDecay);
    }

    /** Adam with beta1 0.9, beta2 0.999, epsilon 1e-8, no weight decay. */
    static Optimizer adam(double rate) {
        return adam(rate, 0.9, 0.999, 1e-8, 0);
    }

    private static void requireRate(double rate) {
        if (!(rate > 0) || Double.isInfinite(rate)) {
            throw new IllegalArgumentException("learning rate must be positive: " + rate);
        }
    }

    /** SGD with momentum. */
    final class Sgd implements Optimizer {
        private double rate;
        private final double momentum;
        private final double weightDecay;
        private final Map<String, float[]> velocity = new HashMap<>();

        private Sgd(double rate, double momentum, double weightDecay) {
            requireRate(rate);
            if (!(momentum >= 0 && momentum < 1)) {
                throw new IllegalArgumentException("momentum must be in [0, 1): " + momentum);
            }
            this.rate = rate;
            this.momentum = momentum;
            this.weightDecay = weightDecay;
        }

        @Override
        public void step(Map<String, float[]> parameters, Map<String, float[]> gradients) {
            for (var e : parameters.entrySet()) {
                float[] p = e.getValue();
                float[] g = gradients.get(e.getKey());
                float[] v = velocity.computeIfAbsent(e.getKey(), k -> new float[p.length]);
                for (int i = 0; i < p.length; i++) {
                    double gi = g[i] + weightDecay * p[i];
                    v[i] = (float) (momentum * v[i] + gi);
                    p[i] -= (float) (rate * v[i]);
                }
            }
        }

        @Override
        public double learningRate() {
            return rate;
        }

        @Override
        public void learningRate(double newRate) {
            requireRate(newRate);
            rate = newRate;
        }
    }

    /** Adam. */
    final class Adam implements Optimizer {
        private double rate;
        private final double beta1;
        private final double beta2;
        private final double epsilon;
        private final double weightDecay;
        private final Map<String, float[]> first = new HashMap<>();
        private final Map<String, float[]> second = new HashMap<>();
        private long steps;

        private Adam(double rate, double beta1, double beta2, double epsilon, double weightDecay) {
            requireRate(rate);
            if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
                throw new IllegalArgumentException("Adam betas must be in [0, 1): " + beta1 + ", " + beta2);
            }
            this.rate = rate;
            this.beta1 = beta1;
            this.beta2 = beta2;
            this.epsilon = epsilon;
            this.weightDecay = weightDecay;
        }

        @Override
        public void step(Map<String, float[]> parameters, Map<String, float[]> gradients) {
            steps++;
            double c1 = 1 - Math.pow(beta1, steps);
            double c2 = 1 - Math.pow(beta2, steps);
            for (var e : parameters.entrySet()) {
                float[] p = e.getValue();
                float[] g = gradients.get(e.getKey());
                float[] m = first.computeIfAbsent(e.getKey(), k -> new float[p.length]);
                float[] v = second.computeIfAbsent(e.getKey(), k -> new float[p.length]);
                for (int i = 0; i < p.length; i++) {
                    double gi = g[i] + weightDecay * p[i];
                    m[i] = (float) (beta1 * m[i] + (1 - beta1) * gi);
                    v[i] = (float) (beta2 * v[i] + (1 - beta2) * gi * gi);
                    p[i] -= (float) (rate * (m[i] / c1) / (Math.sqrt(v[i] / c2) + epsilon));
                }
            }
        }

        @Override
        public double learningRate() {
            return rate;
        }

        @Override
        public void learningRate(double newRate) {
            requireRate(newRate);
            rate = newRate;
        }
    }
}
