package io.modelrefinery.testkit;

import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;

import java.util.Map;

/** A model's outputs for given inputs, and how far two sets of outputs are apart. */
public final class ModelOutputs {
    private ModelOutputs() {
    }

    /** Every output of one run of {@code model} on {@code inputs}, by name. */
    public static Map<String, Tensor> run(InferenceService inference, OnnxModel model, Map<String, Tensor> inputs) {
        try (InferenceSession session = inference.open(model)) {
            return session.run(inputs);
        }
    }

    /** Output {@code output} as floats, for a model whose only input is {@code input}. */
    public static float[] floats(InferenceService inference, OnnxModel model, String input, Tensor value, String output) {
        Tensor out = run(inference, model, Map.of(input, value)).get(output);
        if (out == null) {
            throw new IllegalArgumentException("the model has no output '" + output + "'");
        }
        return out.toFloatArray();
    }

    /** Largest absolute difference between two float arrays of the same length. */
    public static double maxAbsDiff(float[] expected, float[] actual) {
        sameLength(expected, actual);
        double max = 0;
        for (int i = 0; i < expected.length; i++) {
            max = Math.max(max, Math.abs((double) expected[i] - actual[i]));
        }
        return max;
    }

    /**
     * Signal-to-quantization-noise ratio of {@code actual} against {@code reference}, in dB:
     * {@code 10 log10(sum ref^2 / sum (ref - actual)^2)}, capped at {@link Evaluation#IDENTICAL_SQNR_DB} (its value
     * when they are equal) as the host's quality gates cap it.
     */
    public static double sqnrDb(float[] reference, float[] actual) {
        sameLength(reference, actual);
        double signal = 0;
        double noise = 0;
        for (int i = 0; i < reference.length; i++) {
            double d = (double) reference[i] - actual[i];
            signal += (double) reference[i] * reference[i];
            noise += d * d;
        }
        return noise == 0 ? Evaluation.IDENTICAL_SQNR_DB : Math.min(Evaluation.IDENTICAL_SQNR_DB, 10 * Math.log10(signal / noise));
    }

    private static void sameLength(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new IllegalArgumentException(a.length + " values against " + b.length);
        }
    }
}
