package io.modelrefinery.host.eval;

import io.modelrefinery.api.event.Evaluation;

/**
 * How close one model's outputs are to another's, accumulated over batches: signal-to-quantization-noise
 * ratio and cosine similarity over every output value.
 */
final class Fidelity {
    private double referenceEnergy;
    private double outputEnergy;
    private double noiseEnergy;
    private double dot;
    private long values;

    void add(float[] reference, float[] output) {
        if (reference.length != output.length) {
            throw new IllegalStateException("outputs of different sizes: " + reference.length + " and " + output.length);
        }
        for (int i = 0; i < reference.length; i++) {
            double r = reference[i];
            double o = output[i];
            referenceEnergy += r * r;
            outputEnergy += o * o;
            noiseEnergy += (r - o) * (r - o);
            dot += r * o;
        }
        values += reference.length;
    }

    /** 10·log10 of signal over noise energy; {@link Evaluation#IDENTICAL_SQNR_DB} when there is no noise. */
    Double sqnrDb() {
        if (values == 0) {
            return null;
        }
        if (noiseEnergy == 0) {
            return Evaluation.IDENTICAL_SQNR_DB;
        }
        return Math.min(Evaluation.IDENTICAL_SQNR_DB, 10 * Math.log10(referenceEnergy / noiseEnergy));
    }

    Double cosine() {
        if (values == 0) {
            return null;
        }
        if (referenceEnergy == 0 || outputEnergy == 0) {
            return referenceEnergy == outputEnergy ? 1.0 : 0.0;
        }
        return dot / Math.sqrt(referenceEnergy * outputEnergy);
    }
}
