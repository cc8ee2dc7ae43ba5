package io.modelrefinery.api.data;

import io.modelrefinery.api.onnx.TensorInfo;

import java.util.List;
import java.util.Optional;

/**
 * Samples for calibration, evaluation or training: named arrays whose first dimension is the sample.
 * The array called {@value #LABELS} holds class ids (or 0/1 for a single sigmoid output); the others are
 * model inputs. Open a {@link DatasetReader} to pull batches; memory does not grow with the number of
 * samples, and a dataset can be read any number of times.
 */
public interface Dataset {
    /** Name of the optional array of labels. */
    String LABELS = "labels";

    /** Where the samples come from, for messages: usually the file name. */
    String source();

    /** Number of samples. */
    long size();

    /** The arrays, each with its per-sample shape (the sample dimension removed), labels included. */
    List<TensorInfo> arrays();

    /** The input arrays: every array but the labels. */
    default List<TensorInfo> inputs() {
        return arrays().stream().filter(a -> !a.name().equals(LABELS)).toList();
    }

    default Optional<TensorInfo> labels() {
        return arrays().stream().filter(a -> a.name().equals(LABELS)).findFirst();
    }

    /** Starts a pass over the samples, in order. */
    DatasetReader open();
}
