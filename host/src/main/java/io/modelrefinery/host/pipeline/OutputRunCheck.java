package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.data.InvalidDataException;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceException;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.host.eval.Evaluator;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.ort.IsolatedProbe;
import io.modelrefinery.host.ort.ProbeWorker;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

/**
 * Runs a model once as a deployer would: a session with ONNX Runtime's default options (all graph
 * optimizations), fed inputs generated from its input types (symbolic dimensions 1). Loading alone
 * misses kernels that fail at run time (a float16 ScatterElements) and fusions the default level makes
 * that the load check's level does not.
 *
 * <p>Every model runs first in a child process, the host's {@link ProbeWorker}: ONNX Runtime's fusions have
 * crashed the process that opened a model (float16 sequence-first attention), and a crash must end the check,
 * not the host. The kept worker costs 3 to 12 ms a check more than the host's own process, a fresh JVM 0.7 s
 * (docs/benchmarks.md); a model too large for its heap gets a child of its own. On a job device other
 * than the CPU, a model that passed there runs on the device too, in the host's process.
 */
final class OutputRunCheck {

    /**
     * What went wrong, in one line.
     *
     * @param loads whether ONNX Runtime opened a session on the model
     * @param crashed whether ONNX Runtime took its (child) process down: never excused, whatever the input does;
     *     the reason then is how ("signal SIGSEGV in libonnxruntime.so")
     */
    record Failure(boolean loads, boolean crashed, String reason) {
        Failure(boolean loads, String reason) {
            this(loads, false, reason);
        }
    }

    private final InferenceService inference;

    OutputRunCheck(InferenceService inference) {
        this.inference = inference;
    }

    /** Empty when the model loads and runs; otherwise whether it loaded and ONNX Runtime's reason. */
    Optional<Failure> failure(OnnxModel model) {
        Optional<Failure> isolated = isolated(model);
        if (isolated.isPresent() || inference.device() == Device.CPU) {
            return isolated;
        }
        return inProcess(model);
    }

    private Optional<Failure> inProcess(OnnxModel model) {
        InferenceSession session;
        try {
            session = inference.open(model, SessionOptions.defaults());
        } catch (InferenceException e) {
            return Optional.of(new Failure(false, e.getMessage()));
        }
        try (session) {
            Map<String, io.modelrefinery.api.onnx.Tensor> feeds;
            try {
                feeds = Evaluator.generatedInputs(session.inputs());
            } catch (InvalidDataException e) {
                return Optional.empty(); // string inputs: nothing to generate, loading is all there is to check
            }
            session.run(feeds);
            return Optional.empty();
        } catch (InferenceException e) {
            return Optional.of(new Failure(true, e.getMessage()));
        } catch (RuntimeException e) { // inputs of odd shapes or types that cannot even be fed
            return Optional.of(new Failure(true, "its inputs cannot be fed: " + (e.getMessage() == null
                    ? e.getClass().getSimpleName() : e.getMessage().lines().findFirst().orElse(""))));
        }
    }

    private static Optional<Failure> isolated(OnnxModel model) {
        Path work = null;
        try {
            work = Files.createTempDirectory("refinery-run-check-");
            Path file = work.resolve("output.onnx");
            model.save(file);
            long bytes = Files.size(file);
            // the kept worker for what fits its heap a few times over; a child of its own for larger models
            ProbeWorker worker = ProbeWorker.shared();
            Optional<IsolatedProbe.Problem> problem = 4 * bytes <= worker.limits().heapBytes() ? worker.failure(file)
                    : new IsolatedProbe(IsolatedProbe.Limits.forModel(bytes)).failure(file);
            return problem.map(p -> new Failure(p.opened(), p.kind() == IsolatedProbe.Kind.CRASHED, p.reason()));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the model for its run check: " + e.getMessage(), e);
        } finally {
            if (work != null) {
                Folders.deleteQuietly(work);
            }
        }
    }
}
