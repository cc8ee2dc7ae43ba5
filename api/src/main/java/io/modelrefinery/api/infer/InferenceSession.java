package io.modelrefinery.api.infer;

import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/** An ONNX Runtime session over one model. {@link #run} may be called from several threads at once. */
public interface InferenceSession extends AutoCloseable {

    Device device();

    /** The inputs to feed, initializers excluded, with their types and shapes (-1 where dynamic). */
    List<TensorInfo> inputs();

    List<TensorInfo> outputs();

    /** Runs the model and returns every output by name. */
    default Map<String, Tensor> run(Map<String, Tensor> feeds) {
        return run(feeds, outputs().stream().map(TensorInfo::name).toList());
    }

    /**
     * Runs the model and returns the named outputs.
     *
     * @throws InferenceException if a feed is missing or does not fit, or the run fails
     */
    Map<String, Tensor> run(Map<String, Tensor> feeds, Collection<String> outputNames);

    /**
     * Runs the model and hands the named outputs to {@code reader}, returning what it returns. The tensors are
     * valid during the call only: a session may lend its own buffers instead of copies, written in place by the
     * runtime and reused by the next run whose feeds have the same shapes. For outputs read once and dropped,
     * large ones above all (calibration reads every activation of a batch): each skips a copy out of the runtime.
     * Thread-safe as {@link #run(Map, Collection)} is; the default copies.
     *
     * @throws InferenceException if a feed is missing or does not fit, or the run fails
     * @since infer 1.2
     */
    default <R> R run(Map<String, Tensor> feeds, Collection<String> outputNames,
                      Function<Map<String, Tensor>, R> reader) {
        return reader.apply(run(feeds, outputNames));
    }

    @Override
    void close();
}
