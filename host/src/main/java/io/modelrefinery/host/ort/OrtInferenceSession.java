package io.modelrefinery.host.ort;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtSession;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceException;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;

/** One ONNX Runtime session; {@link #run} is thread-safe, as ONNX Runtime's sessions are. */
final class OrtInferenceSession implements InferenceSession {
    private final OrtEnvironment environment;
    private final OrtSession session;
    private final Device device;
    private final List<TensorInfo> inputs;
    private final List<TensorInfo> outputs;
    private final Set<String> inputNames;
    private final OutputShapes outputShapes;
    /** Output buffers lent to readers, kept for the next run with the same feed shapes and outputs; one set. */
    private final AtomicReference<LentOutputs> lent = new AtomicReference<>();

    OrtInferenceSession(OrtEnvironment environment, OrtSession session, Device device) throws OrtException {
        this.environment = environment;
        this.session = session;
        this.device = device;
        this.inputs = describe(session.getInputInfo());
        this.outputs = describe(session.getOutputInfo());
        this.inputNames = Set.copyOf(session.getInputNames());
        this.outputShapes = new OutputShapes(session.getInputInfo(), session.getOutputInfo());
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
            convert(feeds, onnxFeeds);
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
            onnxFeeds.values().forEach(OnnxTensor::close);
        }
    }

    /**
     * Lends output buffers that ONNX Runtime writes in place, kept for the next run with the same feed shapes.
     * Where the model's declared types fix the outputs' shapes for these feeds ({@link OutputShapes}) the first
     * run writes into them too; else the first run with given feed shapes copies its outputs as
     * {@link #run(Map, Collection)} does and keeps direct buffers of their shapes. A run whose outputs do not fit
     * the buffers (a shape that depends on the data) runs again the copying way. One set of buffers is kept: a
     * reader on another thread meanwhile gets the copying run.
     */
    @Override
    public <R> R run(Map<String, Tensor> feeds, Collection<String> outputNames,
                     Function<Map<String, Tensor>, R> reader) {
        String signature = signature(feeds, outputNames);
        LentOutputs outputs = lent.getAndSet(null);
        if (outputs != null && !outputs.signature().equals(signature)) {
            outputs.close();
            outputs = null;
        }
        if (outputs == null) {
            // Lent from the first run where the shapes are known: a copying run costs a copy of every output and
            // ONNX Runtime's allocation of it (MobileNetV3-small's calibration graph, batch 32: 83 MB of them)
            outputs = outputShapes.of(feeds, outputNames)
                    .map(shapes -> LentOutputs.of(environment, signature, shapes, inputNames)).orElse(null);
        }
        if (outputs == null) {
            return readCopies(feeds, outputNames, signature, reader);
        }
        Map<String, Tensor> results = runInto(feeds, outputs);
        if (results == null) {
            outputs.close();
            return readCopies(feeds, outputNames, signature, reader);
        }
        return readAndKeep(results, outputs, reader);
    }

    /**
     * A copying run read by {@code reader}, keeping buffers of the shapes it gave for the next run: after a run
     * the buffers did not fit (shapes the model's types did not fix, or fixed wrongly), the next with these feed
     * shapes fits them unless its shapes follow the data.
     */
    private <R> R readCopies(Map<String, Tensor> feeds, Collection<String> outputNames, String signature,
                             Function<Map<String, Tensor>, R> reader) {
        Map<String, Tensor> copies = run(feeds, outputNames);
        LentOutputs created = LentOutputs.of(environment, signature, copies.entrySet().stream()
                .map(e -> new TensorInfo(e.getKey(), e.getValue().type(), e.getValue().shape())).toList(), inputNames);
        return readAndKeep(copies, created, reader);
    }

    /** Reads {@code results}; then keeps {@code outputs} (null: none) for the next run, or closes them on a throw. */
    private <R> R readAndKeep(Map<String, Tensor> results, LentOutputs outputs,
                              Function<Map<String, Tensor>, R> reader) {
        R read;
        try {
            read = reader.apply(results);
        } catch (RuntimeException | Error e) {
            if (outputs != null) {
                outputs.close();
            }
            throw e;
        }
        keep(outputs);
        return read;
    }

    private void keep(LentOutputs outputs) {
        if (outputs != null && !lent.compareAndSet(null, outputs)) {
            outputs.close();
        }
    }

    /**
     * Runs writing into {@code outputs}, copying those that are not lent; null when ONNX Runtime refuses the
     * buffers (the outputs took other shapes).
     */
    private Map<String, Tensor> runInto(Map<String, Tensor> feeds, LentOutputs outputs) {
        Map<String, OnnxTensor> onnxFeeds = new LinkedHashMap<>();
        try {
            convert(feeds, onnxFeeds);
            Map<String, Tensor> results = new LinkedHashMap<>(outputs.views());
            try (OrtSession.RunOptions quiet = quietRun();
                 OrtSession.Result copied = session.run(onnxFeeds, outputs.copied(), outputs.tensors(), quiet)) {
                for (String name : outputs.copied()) {
                    OnnxValue value = copied.get(name).orElse(null);
                    if (!(value instanceof OnnxTensor)) {
                        return null;
                    }
                    results.put(name, OrtTensors.fromOnnx((OnnxTensor) value));
                }
            }
            return results;
        } catch (OrtException e) {
            return null;
        } finally {
            onnxFeeds.values().forEach(OnnxTensor::close);
        }
    }

    /**
     * Run options that keep ONNX Runtime from logging a run it refuses at error level: a lent buffer that stops
     * fitting is expected (the run is made again, copying), not an error for the operator's log.
     */
    private static OrtSession.RunOptions quietRun() throws OrtException {
        OrtSession.RunOptions options = new OrtSession.RunOptions();
        options.setLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL);
        return options;
    }

    /** Converts {@code feeds} into {@code into}, which the caller closes however far this got. */
    private void convert(Map<String, Tensor> feeds, Map<String, OnnxTensor> into) throws OrtException {
        for (Map.Entry<String, Tensor> feed : feeds.entrySet()) {
            into.put(feed.getKey(), OrtTensors.toOnnx(environment, feed.getValue()));
        }
    }

    private static String signature(Map<String, Tensor> feeds, Collection<String> outputNames) {
        StringBuilder key = new StringBuilder();
        feeds.forEach((name, tensor) -> key.append(name).append(tensor.type()).append(Arrays.toString(tensor.shape()))
                .append(';'));
        return key.append(outputNames).toString();
    }

    /**
     * Direct buffers of one run's output shapes, as ONNX Runtime tensors to fill and as views to read, and the
     * outputs copied instead: graph inputs, which ONNX Runtime hands back as fed and never writes into a buffer.
     */
    private record LentOutputs(String signature, Map<String, OnnxTensor> tensors, Map<String, Tensor> views,
                               Set<String> copied) {
        /** Buffers shaped as {@code outputs}; null where one cannot be lent (a string tensor, or over 2 GiB). */
        static LentOutputs of(OrtEnvironment environment, String signature, List<TensorInfo> outputs,
                              Set<String> inputs) {
            Map<String, OnnxTensor> tensors = new LinkedHashMap<>();
            Map<String, Tensor> views = new LinkedHashMap<>();
            Set<String> copied = new LinkedHashSet<>();
            LentOutputs lent = new LentOutputs(signature, tensors, views, copied);
            try {
                for (TensorInfo output : outputs) {
                    if (inputs.contains(output.name())) {
                        copied.add(output.name());
                        continue;
                    }
                    long bytes = output.type() == DataType.STRING ? -1 : output.type().byteSize(elements(output));
                    if (bytes < 0 || bytes > Integer.MAX_VALUE) {
                        lent.close();
                        return null;
                    }
                    ByteBuffer buffer = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
                    tensors.put(output.name(), OrtTensors.overBuffer(environment, buffer, output.type(),
                            output.shape()));
                    views.put(output.name(), Tensor.of(output.type(), output.shape(), buffer.duplicate()
                            .order(ByteOrder.LITTLE_ENDIAN)));
                }
                return lent;
            } catch (OrtException | ArithmeticException e) {
                lent.close();
                return null;
            }
        }

        private static long elements(TensorInfo output) {
            long elements = 1;
            for (long d : output.shape()) {
                elements = Math.multiplyExact(elements, d);
            }
            return elements;
        }

        void close() {
            tensors.values().forEach(OnnxTensor::close);
        }
    }

    @Override
    public void close() {
        LentOutputs outputs = lent.getAndSet(null);
        if (outputs != null) {
            outputs.close();
        }
        try {
            session.close();
        } catch (OrtException e) {
            throw OrtErrors.wrap("ONNX Runtime failed to close a session", e);
        }
    }
}
