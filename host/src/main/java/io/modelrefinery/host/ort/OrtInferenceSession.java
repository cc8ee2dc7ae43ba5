package io.modelrefinery.host.ort;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceException;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;

/** One ONNX Runtime session; {@link #run} is thread-safe, as ONNX Runtime's sessions are. */
final class OrtInferenceSession implements InferenceSession {
    private final OrtEnvironment environment;
    private final OrtSession session;
    private final Device device;
    private final List<TensorInfo> inputs;
    private final List<TensorInfo> outputs;

    OrtInferenceSession(OrtEnvironment environment, OrtSession session, Device device) throws OrtException {
        this.environment = environment;
        this.session = session;
        this.device = device;
        this.inputs = describe(session.getInputInfo());
        this.outputs = describe(session.getOutputInfo());
    }

    private static List<TensorInfo> describe(Map<String, NodeInfo> infos) {
        List<TensorInfo> out = new ArrayList<>();
        for (NodeInfo info : infos.values()) {
            if (info.getInfo() instanceof ai.onnxruntime.TensorInfo) {
                ai.onnxruntime.TensorInfo t = (ai.onnxruntime.TensorInfo) info.getInfo();
                out.add(new TensorInfo(info.getName(), OrtTensors.dataType(t.onnxType), t.getShape()));
            }
        }
        return List.copyOf(out);
    }

    @Override
    public Device device() {
        return device;
    }

    @Override
    public List<TensorInfo> inputs() {
        return inputs;
    }

    @Override
    public List<TensorInfo> outputs() {
        return outputs;
    }

    @Override
    public Map<String, Tensor> run(Map<String, Tensor> feeds, Collection<String> outputNames) {
        Map<String, OnnxTensor> onnxFeeds = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, Tensor> feed : feeds.entrySet()) {
                onnxFeeds.put(feed.getKey(), OrtTensors.toOnnx(environment, feed.getValue()));
            }
            try (OrtSession.Result result = session.run(onnxFeeds, new LinkedHashSet<>(outputNames))) {
                Map<String, Tensor> out = new LinkedHashMap<>();
                for (Map.Entry<String, OnnxValue> value : result) {
                    if (!(value.getValue() instanceof OnnxTensor)) {
                        throw new InferenceException("output '" + value.getKey() + "' is not a tensor", null);
                    }
                    out.put(value.getKey(), OrtTensors.fromOnnx((OnnxTensor) value.getValue()));
                }
                return out;
            }
        } catch (OrtException e) {
            throw OrtErrors.wrap("ONNX Runtime failed to run the model", e);
        } finally {
            for (OnnxTensor tensor : onnxFeeds.values()) {
                tensor.close();
            }
        }
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            throw OrtErrors.wrap("ONNX Runtime failed to close a session", e);
        }
    }
}
