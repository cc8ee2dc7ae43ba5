package io.modelrefinery.host.eval;

import io.modelrefinery.api.data.InvalidDataException;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.Set;

/**
 * Turns a model's first output into predicted classes, and labels into classes, as the dataset contract
 * says: one value per sample is a binary score (a probability when the output comes from a Sigmoid, a
 * logit otherwise), several values are class scores (the largest wins). Labels are class ids, 0/1 for a
 * binary output, or one-hot rows.
 */
record ClassDecision(String output, double threshold) {
    private static final Set<String> PROBABILITY_OPS = Set.of("Sigmoid", "Softmax", "HardSigmoid");

    static ClassDecision of(OnnxModel model, TensorInfo output) {
        NodeProto producer = GraphIndex.of(model.graph()).producer(output.name()).orElse(null);
        boolean probability = producer != null && PROBABILITY_OPS.contains(producer.getOpType());
        return new ClassDecision(output.name(), probability ? 0.5 : 0.0);
    }

    /** Values per sample in {@code scores}. */
    static int width(Tensor scores, int samples) {
        return (int) (scores.elementCount() / Math.max(1, samples));
    }

    int[] classes(Tensor scores, int samples) {
        float[] values = scores.toFloatArray();
        int width = values.length / Math.max(1, samples);
        int[] out = new int[samples];
        for (int s = 0; s < samples; s++) {
            out[s] = width == 1 ? (values[s] >= threshold ? 1 : 0) : argmax(values, s * width, width);
        }
        return out;
    }

    /**
     * @param outputWidth values per sample in the model's output: 1 for a binary score
     * @param offset index of the batch's first sample, for messages
     */
    int[] labels(Tensor labels, int samples, int outputWidth, long offset, String source) {
        double[] values = labels.toDoubleArray();
        int width = values.length / Math.max(1, samples);
        int classes = outputWidth == 1 ? 2 : outputWidth;
        if (width != 1 && width != outputWidth) {
            throw new InvalidDataException(source + ": labels have " + width + " values per sample but the model's output '"
                    + output + "' has " + outputWidth + "; give class ids or one-hot rows");
        }
        int[] out = new int[samples];
        for (int s = 0; s < samples; s++) {
            if (width == 1) {
                double v = values[s];
                if (v != Math.rint(v) || v < 0 || v >= classes) {
                    throw new InvalidDataException(source + ": label " + v + " of sample " + (offset + s)
                            + " is not a class id of the model's output '" + output + "' (0 to " + (classes - 1) + ")");
                }
                out[s] = (int) v;
            } else {
                out[s] = argmax(values, s * width, width);
            }
        }
        return out;
    }

    private static int argmax(float[] values, int from, int width) {
        int best = 0;
        for (int i = 1; i < width; i++) {
            if (values[from + i] > values[from + best]) {
                best = i;
            }
        }
        return best;
    }

    private static int argmax(double[] values, int from, int width) {
        int best = 0;
        for (int i = 1; i < width; i++) {
            if (values[from + i] > values[from + best]) {
                best = i;
            }
        }
        return best;
    }
}
