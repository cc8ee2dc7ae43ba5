package io.modelrefinery.host.ort;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.proto.Onnx.ModelProto;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.List;

/**
 * The host's ONNX Runtime: one environment for the process, device selection, and the
 * {@link OrtInferenceService} each job gets. CUDA is used only with the {@code gpu} build
 * ({@code onnxruntime_gpu}) on a machine whose GPU the CUDA provider can start on.
 */
public final class OrtRuntime {
    private static final Logger LOG = LoggerFactory.getLogger(OrtRuntime.class);

    private final OrtEnvironment environment;
    private volatile String cudaProblem; // null until probed; "" when CUDA works

    public OrtRuntime() {
        this.environment = OrtEnvironment.getEnvironment(OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR, "refinery");
    }

    OrtEnvironment environment() {
        return environment;
    }

    /**
     * Decides the device for a request.
     *
     * @throws InvalidInputException for {@code cuda} when the CUDA provider cannot run here
     */
    public DeviceChoice resolve(DeviceRequest request) {
        switch (request) {
            case CPU:
                return new DeviceChoice(Device.CPU, null);
            case CUDA: {
                String problem = cudaProblem();
                if (!problem.isEmpty()) {
                    throw new InvalidInputException("--device cuda: " + problem);
                }
                return new DeviceChoice(Device.CUDA, null);
            }
            default: {
                String problem = cudaProblem();
                if (problem.isEmpty()) {
                    return new DeviceChoice(Device.CUDA, null);
                }
                LOG.info("device auto: using the CPU because {}", problem);
                return new DeviceChoice(Device.CPU, "auto chose cpu: " + problem);
            }
        }
    }

    /** Why CUDA cannot be used here, or the empty string if it can. Probed once, with a tiny model. */
    public String cudaProblem() {
        String problem = cudaProblem;
        if (problem == null) {
            problem = probeCuda();
            cudaProblem = problem;
        }
        return problem;
    }

    private String probeCuda() {
        if (!OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA)) {
            return "this ONNX Runtime build has no CUDA provider (build with the gpu Maven profile)";
        }
        ModelProto identity = OnnxHelper.model(OnnxHelper.graph("probe",
                List.of(OnnxHelper.node("Identity", List.of("x"), List.of("y"))),
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, 1)),
                List.of(OnnxHelper.valueInfo("y", DataType.FLOAT, 1)), List.of()), 13);
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.addCUDA(0);
            environment.createSession(identity.toByteArray(), options).close();
            return "";
        } catch (OrtException | RuntimeException | UnsatisfiedLinkError e) {
            return "the CUDA provider does not start here (" + OrtErrors.oneLine(e.getMessage()) + ")";
        }
    }

    /** Inference for one job on {@code device}; temporary files go under {@code scratchDir}. */
    public OrtInferenceService service(Device device, Path scratchDir) {
        return new OrtInferenceService(environment, device, scratchDir);
    }
}
