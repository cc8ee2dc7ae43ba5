package io.modelrefinery.api.infer;

import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.TensorInfo;

import java.util.Map;

/**
 * ONNX Runtime as the host offers it to plugins. The host owns the runtime (its native library can
 * live in one class loader only), picks the device and closes what a job leaves open. Thread-safe.
 */
public interface InferenceService {

    /** The device this job's sessions run on unless {@link SessionOptions#device()} says otherwise. */
    Device device();

    /** Opens a session with {@link SessionOptions#defaults()}. */
    default InferenceSession open(OnnxModel model) {
        return open(model, SessionOptions.defaults());
    }

    /**
     * Opens a session over {@code model}; close it when done.
     *
     * @throws InferenceException if ONNX Runtime refuses the model
     */
    InferenceSession open(OnnxModel model, SessionOptions options);

    /**
     * The element type and shape (-1 where not static) ONNX Runtime infers for every value of the main
     * graph: inputs, initializers, node outputs. Transforms use it to know which values are float.
     *
     * @throws InferenceException if ONNX Runtime refuses the model
     */
    Map<String, TensorInfo> valueTypes(OnnxModel model);

    /**
     * Returns {@code model} as ONNX Runtime rewrites it at {@code level} (its offline optimization),
     * ready to be saved. Levels above BASIC may use operators only ONNX Runtime runs. The same model at the
     * same level on the same machine gives the same model (at ALL the layouts depend on the CPU).
     *
     * @throws InferenceException if ONNX Runtime refuses the model
     */
    OnnxModel optimize(OnnxModel model, GraphOptimizationLevel level);
}
