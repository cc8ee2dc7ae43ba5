package io.modelrefinery.host.ort;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.GraphOptimizationLevel;
import io.modelrefinery.api.infer.InferenceException;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.SaveOptions;
import io.modelrefinery.host.files.Folders;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** {@link InferenceService} over ONNX Runtime for one job. */
public final class OrtInferenceService implements InferenceService {
    private final OrtEnvironment environment;
    private final Device device;
    private final Path scratchDir;

    OrtInferenceService(OrtEnvironment environment, Device device, Path scratchDir) {
        this.environment = environment;
        this.device = device;
        this.scratchDir = scratchDir;
    }

    @Override
    public Device device() {
        return device;
    }

    @Override
    public InferenceSession open(OnnxModel model, SessionOptions options) {
        Device target = options.device() != null ? options.device() : device;
        try (OrtSession.SessionOptions ortOptions = ortOptions(options.optimization(), options.intraOpThreads(), target,
                options.spinning())) {
            return new OrtInferenceSession(environment, createSession(model, ortOptions), target);
        } catch (OrtException e) {
            throw OrtErrors.wrap("ONNX Runtime cannot open the model", e);
        }
    }

    /** Every node output is made a graph output, and ONNX Runtime reports the types it inferred. */
    @Override
    public Map<String, TensorInfo> valueTypes(OnnxModel model) {
        GraphEditor editor = GraphEditor.of(model.graph());
        for (NodeProto node : model.graph().getNodeList()) {
            for (String output : node.getOutputList()) {
                if (!output.isEmpty()) {
                    editor.addOutput(output);
                }
            }
        }
        Map<String, TensorInfo> types = new LinkedHashMap<>();
        SessionOptions probe = SessionOptions.defaults().withOptimization(GraphOptimizationLevel.DISABLED)
                .withDevice(Device.CPU);
        try (InferenceSession session = open(model.withGraph(editor.build()), probe)) {
            for (TensorInfo info : session.inputs()) {
                types.put(info.name(), info);
            }
            for (TensorInfo info : session.outputs()) {
                types.put(info.name(), info);
            }
        }
        for (TensorProto init : model.graph().getInitializerList()) {
            DataType type = DataType.fromCode(init.getDataType());
            if (type != null) {
                long[] dims = init.getDimsList().stream().mapToLong(Long::longValue).toArray();
                types.putIfAbsent(init.getName(), new TensorInfo(init.getName(), type, dims));
            }
        }
        return types;
    }

    @Override
    public OnnxModel optimize(OnnxModel model, GraphOptimizationLevel level) {
        Path folder = null;
        try {
            folder = Files.createTempDirectory(scratchDir(), "optimize");
            Path out = folder.resolve("optimized.onnx");
            try (OrtSession.SessionOptions ortOptions = ortOptions(level, 0, device, true)) {
                ortOptions.setOptimizedModelFilePath(out.toString());
                if (model.hasExternalData()) {
                    // Staged next to the output: ONNX Runtime's optimized model refers to the weights it did not
                    // change in the staged side file, by a path relative to its own folder.
                    Path staged = folder.resolve("model.onnx");
                    model.save(staged, SaveOptions.external());
                    environment.createSession(staged.toString(), ortOptions).close();
                } else {
                    createSession(model, ortOptions).close();
                }
            }
            // Read it fully: the folder is deleted below, so nothing may stay mapped from it.
            return OptimizedNodeNames.normalize(OnnxModel.load(out).inlined());
        } catch (OrtException e) {
            throw OrtErrors.wrap("ONNX Runtime cannot optimize the model", e);
        } catch (IOException e) {
            throw new InferenceException("cannot write the optimized model: " + e.getMessage(), e);
        } finally {
            Folders.deleteQuietly(folder);
        }
    }

    private OrtSession.SessionOptions ortOptions(GraphOptimizationLevel level, int threads, Device target,
                                                 boolean spinning) throws OrtException {
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        try {
            options.setOptimizationLevel(optLevel(level));
            // The memory pattern is traced on a session's first run and allocated on its second; sessions here
            // run a few batches (calibration, evaluation, probes) or one shape in a timing loop. Measured on
            // MobileNetV2 (batch 32, 2 cores): it made the calibration graph's second run 0.8 to 2.4 s against
            // 0.18 to 0.39 s without it, and the plain model's later runs no faster (130 to 170 ms either way).
            options.setMemoryPatternOptimization(false);
            if (!spinning) {
                options.addConfigEntry("session.intra_op.allow_spinning", "0");
            }
            if (threads > 0) {
                options.setIntraOpNumThreads(threads);
            }
            if (target == Device.CUDA) {
                options.addCUDA(0);
            }
            return options;
        } catch (OrtException | RuntimeException e) {
            options.close();
            throw e;
        }
    }

    private static OrtSession.SessionOptions.OptLevel optLevel(GraphOptimizationLevel level) {
        switch (level) {
            case DISABLED: return OrtSession.SessionOptions.OptLevel.NO_OPT;
            case BASIC: return OrtSession.SessionOptions.OptLevel.BASIC_OPT;
            case EXTENDED: return OrtSession.SessionOptions.OptLevel.EXTENDED_OPT;
            default: return OrtSession.SessionOptions.OptLevel.ALL_OPT;
        }
    }

    /**
     * Models with external data are handed to ONNX Runtime as files in a scratch folder, so that it
     * finds the side file; all others as bytes.
     */
    private OrtSession createSession(OnnxModel model, OrtSession.SessionOptions options) throws OrtException {
        if (!model.hasExternalData()) {
            return environment.createSession(model.toByteArray(), options);
        }
        Path folder = null;
        try {
            folder = Files.createTempDirectory(scratchDir(), "session");
            Path file = folder.resolve("model.onnx");
            model.save(file, SaveOptions.external());
            return environment.createSession(file.toString(), options);
        } catch (IOException e) {
            throw new InferenceException("cannot stage the model for ONNX Runtime: " + e.getMessage(), e);
        } finally {
            Folders.deleteQuietly(folder);
        }
    }

    private Path scratchDir() throws IOException {
        return Files.createDirectories(scratchDir);
    }
}
