package io.modelrefinery.host.ort;

import ai.onnxruntime.NodeInfo;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The shapes a session's outputs take for given feeds, where the model's declared types fix them: a dynamic
 * dimension of an output named as a dimension of an input is that input's size in the feed (in ONNX, dimensions
 * of one name are of one size). Buffers for the outputs can then be lent from the first run with those feeds on,
 * without a copying run to learn the shapes (a calibration graph with a symbolic batch: every statistic's shape
 * is the batch's and its tensor's).
 */
final class OutputShapes {
    private final Map<String, String[]> inputDimensions = new HashMap<>();
    private final Map<String, ai.onnxruntime.TensorInfo> outputs = new HashMap<>();

    OutputShapes(Map<String, NodeInfo> inputs, Map<String, NodeInfo> outputs) {
        inputs.forEach((name, info) -> {
            if (info.getInfo() instanceof ai.onnxruntime.TensorInfo tensor) {
                inputDimensions.put(name, tensor.getDimensionNames());
            }
        });
        outputs.forEach((name, info) -> {
            if (info.getInfo() instanceof ai.onnxruntime.TensorInfo tensor) {
                this.outputs.put(name, tensor);
            }
        });
    }

    /**
     * The type and shape of each of {@code names} for {@code feeds}; empty when one's shape is not fixed by them
     * (a dimension unnamed or named after no input's, as NonZero's), when one is not a tensor, or when the feeds
     * give one name two sizes. A graph input handed back as an output has its feed's.
     */
    Optional<List<TensorInfo>> of(Map<String, Tensor> feeds, Collection<String> names) {
        Map<String, Long> sizes = new HashMap<>();
        for (Map.Entry<String, Tensor> feed : feeds.entrySet()) {
            String[] dimensions = inputDimensions.get(feed.getKey());
            long[] shape = feed.getValue().shape();
            for (int d = 0; dimensions != null && d < Math.min(dimensions.length, shape.length); d++) {
                if (!dimensions[d].isEmpty()
                        && sizes.merge(dimensions[d], shape[d], (a, b) -> a.equals(b) ? a : -1L) < 0) {
                    return Optional.empty();
                }
            }
        }
        List<TensorInfo> shapes = new ArrayList<>();
        for (String name : names) {
            Tensor fed = feeds.get(name);
            if (fed != null) {
                shapes.add(new TensorInfo(name, fed.type(), fed.shape()));
                continue;
            }
            ai.onnxruntime.TensorInfo declared = outputs.get(name);
            if (declared == null) {
                return Optional.empty();
            }
            long[] shape = declared.getShape();
            String[] dimensions = declared.getDimensionNames();
            for (int d = 0; d < shape.length; d++) {
                if (shape[d] < 0) {
                    Long size = d < dimensions.length ? sizes.get(dimensions[d]) : null;
                    if (size == null) {
                        return Optional.empty();
                    }
                    shape[d] = size;
                }
            }
            DataType type = OrtTensors.dataType(declared.onnxType);
            if (type == null) {
                return Optional.empty();
            }
            shapes.add(new TensorInfo(name, type, shape));
        }
        return Optional.of(shapes);
    }
}
