package io.modelrefinery.api.data;

import io.modelrefinery.api.onnx.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Consecutive samples of a dataset: each array with the batch as its first dimension.
 *
 * @param size number of samples
 * @param arrays every array of the dataset, labels included, by name
 */
public record Batch(int size, Map<String, Tensor> arrays) {
    public Batch {
        arrays = Map.copyOf(arrays);
    }

    public Tensor get(String name) {
        Tensor t = arrays.get(name);
        if (t == null) {
            throw new IllegalArgumentException("batch has no array '" + name + "' (has " + arrays.keySet() + ")");
        }
        return t;
    }

    public Optional<Tensor> labels() {
        return Optional.ofNullable(arrays.get(Dataset.LABELS));
    }

    /** The arrays that feed the model: all but the labels. */
    public Map<String, Tensor> inputs() {
        Map<String, Tensor> out = new LinkedHashMap<>(arrays);
        out.remove(Dataset.LABELS);
        return out;
    }
}
