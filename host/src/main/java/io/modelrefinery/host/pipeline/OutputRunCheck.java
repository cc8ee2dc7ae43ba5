package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.data.InvalidDataException;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceException;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;
import io.modelrefinery.host.eval.Evaluator;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.ort.IsolatedProbe;
import io.modelrefinery.host.ort.ProbeRun;
import io.modelrefinery.host.ort.ProbeWorker;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/**
 * Runs a model once as a deployer would: a session with ONNX Runtime's default options (all graph
 * optimizations), fed inputs generated from its input types (symbolic dimensions 1). Loading alone
 * misses kernels that fail at run time (a float16 ScatterElements) and fusions the default level makes
 * that the load check's level does not. Where the job's evaluation will run the model next in the host's
 * process, the check then makes the evaluation's runs too ({@link ProbeRun}: its batch size, one intra-op
 * thread), so that a model that crashes ONNX Runtime only at a larger batch or on one thread fails its
 * step in the child instead of ending the host.
 *
 * <p>A model runs in a child process, so that a crash ends the check, not the host: ONNX Runtime's fusions
 * have crashed the process that opened a model (float16 sequence-first attention). Up to
 * {@link #WORKER_TENSOR_BYTES} of weights it runs in the host's kept {@link ProbeWorker}, which costs 3 to 12
 * ms a check more than the host's own process (a fresh JVM 0.7 s; docs/benchmarks.md). A larger model runs
 * in a child of its own when it computes in 16-bit floats (where the crashes were), and otherwise in the
 * host's process: a second copy of a large model in a child would double the job's memory. On a job device
 * other than the CPU, a model that passed in a child runs on the device too, in the host's process.
 */
final class OutputRunCheck {
    /** Weights up to which a model is checked in the kept worker: a quarter of its heap, which holds it a few times. */
    static final long WORKER_TENSOR_BYTES = ProbeWorker.shared().limits().heapBytes() / 4;
    private static final Set<Integer> HALF_TYPES = Set.of(DataType.FLOAT16.code(), DataType.BFLOAT16.code());

    /**
     * What went wrong, in one line.
     *
     * @param loads whether ONNX Runtime opened a session on the model
     * @param crashed whether ONNX Runtime took its (child) process down: never excused, whatever the input does;
     *     the reason then is how ("signal SIGSEGV in libonnxruntime.so")
     * @param run the run it went wrong in: opening its session when the model did not load, else making it
     */
    record Failure(boolean loads, boolean crashed, String reason, ProbeRun run) {
        Failure(boolean loads, String reason) {
            this(loads, false, reason, ProbeRun.DEPLOYER);
        }

        /** Where it went wrong, for a message: "opening its output with default session options", "running its output at batch 64 ...". */
        String where() {
            return loads ? "running its output " + run.describe() : "opening its output " + run.describeSession();
        }

        /** " at batch 64 with default session options" after a run other than a deployer's, else empty. */
        String unlessDeployer() {
            return run.equals(ProbeRun.DEPLOYER) ? "" : " " + (loads ? run.describe() : run.describeSession());
        }
    }

    private final InferenceService inference;
    private final List<ProbeRun> runs;

    /** A check with a deployer's run alone. */
    OutputRunCheck(InferenceService inference) {
        this(inference, List.of());
    }

    /** @param runs the runs besides a deployer's that the child makes ({@link JobEnvironment#evaluationRuns()}) */
    OutputRunCheck(InferenceService inference, List<ProbeRun> runs) {
        this.inference = inference;
        this.runs = List.copyOf(runs);
    }

    /** Empty when the model loads and runs; otherwise whether it loaded and ONNX Runtime's reason. */
    Optional<Failure> failure(OnnxModel model) {
        long bytes = model.tensorBytes();
        Optional<Failure> isolated;
        if (bytes <= WORKER_TENSOR_BYTES) {
            isolated = isolated(model, file -> ProbeWorker.shared().failure(file, runs));
        } else if (halfIn(model.graph())) {
            isolated = isolated(model, file -> new IsolatedProbe(IsolatedProbe.Limits.forModel(bytes)).failure(file, runs));
        } else {
            return inProcess(model);
        }
        if (isolated.isPresent() || inference.device() == Device.CPU) {
            return isolated;
        }
        return inProcess(model);
    }

    /**
     * A deployer's run in the host's process, on the job's device. The evaluation's runs are not made here: the
     * evaluation makes them itself, in this same process, and reports what fails there.
     */
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

    private static Optional<Failure> isolated(OnnxModel model,
                                              Function<Path, Optional<IsolatedProbe.Problem>> probe) {
        Path work = null;
        try {
            work = Files.createTempDirectory("refinery-run-check-");
            Path file = work.resolve("output.onnx");
            model.save(file);
            return probe.apply(file).map(p -> new Failure(p.opened(), p.kind() == IsolatedProbe.Kind.CRASHED,
                    p.reason(), p.run()));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the model for its run check: " + e.getMessage(), e);
        } finally {
            if (work != null) {
                Folders.deleteQuietly(work);
            }
        }
    }

    /** Whether the graph holds or computes 16-bit floats anywhere, subgraphs included. */
    static boolean halfIn(GraphProto graph) {
        for (TensorProto t : graph.getInitializerList()) {
            if (HALF_TYPES.contains(t.getDataType())) {
                return true;
            }
        }
        for (List<ValueInfoProto> values : List.of(graph.getInputList(), graph.getOutputList(),
                graph.getValueInfoList())) {
            for (ValueInfoProto v : values) {
                if (HALF_TYPES.contains(v.getType().getTensorType().getElemType())) {
                    return true;
                }
            }
        }
        for (NodeProto node : graph.getNodeList()) {
            for (AttributeProto a : node.getAttributeList()) {
                if ((a.getName().equals("to") && HALF_TYPES.contains((int) a.getI()))
                        || (a.hasT() && HALF_TYPES.contains(a.getT().getDataType()))
                        || (a.hasG() && halfIn(a.getG()))) {
                    return true;
                }
                for (GraphProto g : a.getGraphsList()) {
                    if (halfIn(g)) {
                        return true;
                    }
                }
            }
        }
        return false;
    }
}
