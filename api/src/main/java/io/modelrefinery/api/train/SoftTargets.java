package io.modelrefinery.api.train;

import io.modelrefinery.api.data.InvalidDataException;
import io.modelrefinery.api.onnx.Tensor;

import java.util.Arrays;

/** Targets computed in Java from labels or a teacher's logits. */
public final class SoftTargets {
    private SoftTargets() {
    }

    /**
     * A teacher's logits softened at {@code temperature}: {@code sigmoid(z / T)} element-wise for a binary
     * head, {@code softmax(z / T)} along the last axis for a multi-class one.
     */
    public static Tensor fromLogits(Tensor logits, double temperature, Head head) {
        float[] z = logits.toFloatArray();
        float[] p = new float[z.length];
        if (head == Head.BINARY) {
            for (int i = 0; i < z.length; i++) {
                p[i] = (float) (1 / (1 + Math.exp(-z[i] / temperature)));
            }
        } else {
            int classes = (int) logits.dim(logits.rank() - 1);
            for (int row = 0; row < z.length / classes; row++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int k = 0; k < classes; k++) {
                    max = Math.max(max, z[row * classes + k] / temperature);
                }
                double sum = 0;
                for (int k = 0; k < classes; k++) {
                    sum += Math.exp(z[row * classes + k] / temperature - max);
                }
                for (int k = 0; k < classes; k++) {
                    p[row * classes + k] = (float) (Math.exp(z[row * classes + k] / temperature - max) / sum);
                }
            }
        }
        return Tensor.ofFloats(logits.shape(), p);
    }

    /**
     * Hard targets from labels, shaped like {@code like} (the logits, or the output for MSE): class ids
     * become one-hot rows for a multi-class head; for a binary head (or labels already shaped like the
     * output) the labels are taken as values.
     */
    public static Tensor fromLabels(Tensor labels, long[] like, Head head) {
        long n = labels.dim(0);
        long[] shape = like.clone();
        shape[0] = n;
        long perSample = 1;
        for (int i = 1; i < shape.length; i++) {
            perSample *= shape[i];
        }
        if (labels.elementCount() == n * perSample) {
            return Tensor.ofFloats(shape, labels.toFloatArray());
        }
        if (head == Head.MULTICLASS && labels.elementCount() == n) {
            long classes = shape[shape.length - 1];
            float[] oneHot = new float[Math.toIntExact(n * classes)];
            double[] ids = labels.toDoubleArray();
            for (int i = 0; i < n; i++) {
                long id = Math.round(ids[i]);
                if (id < 0 || id >= classes || id != ids[i]) {
                    throw new InvalidDataException("label " + ids[i] + " of sample " + i
                            + " is not a class id below " + classes);
                }
                oneHot[(int) (i * classes + id)] = 1f;
            }
            return Tensor.ofFloats(shape, oneHot);
        }
        throw new InvalidDataException("labels of shape " + Arrays.toString(labels.shape())
                + " do not fit an output of " + perSample + " values per sample");
    }
}
