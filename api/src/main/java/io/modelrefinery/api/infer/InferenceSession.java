package io.modelrefinery.api.infer;

import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;

import java.util.Collection;
import java.util.List;
import java.util.Map;

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

    @Override
    void close();
}
