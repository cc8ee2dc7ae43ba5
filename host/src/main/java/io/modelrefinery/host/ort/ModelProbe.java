package io.modelrefinery.host.ort;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.data.InvalidDataException;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceException;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.ModelValidator;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.host.eval.Evaluator;
import io.modelrefinery.host.files.Folders;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The program an {@link IsolatedProbe} runs in a child JVM: reads and validates a model, opens an ONNX
 * Runtime session on it with the default options (all graph optimizations, as a deployer opens it) and runs
 * it once on generated inputs, then makes the further {@link ProbeRun}s it is asked for (another batch size,
 * another number of intra-op threads: how a job's evaluation will run the model in the host), one session
 * per thread count. Exit code 0 when all of that works, 2 with one line on stderr when the model is refused,
 * 4 when something else fails; anything worse (a native crash; running out of memory, which the JVM reports
 * as 3; running out of time) ends the child, not the host.
 *
 * <p>Arguments: {@code MODEL.onnx [batch=B,threads=T ...]}. As it goes it writes lines that begin with
 * {@value #PREFIX} on stdout, so that the host can say where a crash happened: {@code opening batch=B,threads=T}
 * before it opens a session, {@code opened} once it is open, {@code running batch=B,threads=T} before each run,
 * the batch there being the one fed (a batch the model fixes stays as it is; a run that would repeat one
 * made is left out). A run beyond a deployer's whose generated inputs would not fit this child's heap, or that
 * ONNX Runtime cannot allocate memory for under its address-space cap, counts as made: the host, without
 * those caps, makes it itself, and a model must not fail for the child's limits.
 *
 * <p>With {@value #SERVE} instead of a model it serves a {@link ProbeWorker}: one request a line on stdin,
 * {@code [batch=B,threads=T ...]<TAB>MODEL.onnx} (a line without a tab is a model path alone), and for each,
 * {@code started}, the lines above, and {@code done CODE REASON} with the codes above. It exits when stdin
 * closes (the host is gone) or after {@link #IDLE_MILLIS} without a model.
 */
public final class ModelProbe {
    static final String SERVE = "--serve";
    static final String PREFIX = "@@probe ";
    /** A worker without work exits by itself, so that an idle host holds no second JVM. */
    static final long IDLE_MILLIS = 60_000;

    private ModelProbe() {
    }

    /** How probing one model ended: an exit code as above and, unless 0, one line saying why. */
    record Outcome(int code, String reason) {
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 1 || (args[0].equals(SERVE) && args.length > 1)) {
            System.err.println("usage: ModelProbe MODEL.onnx [batch=B,threads=T ...] | " + SERVE);
            System.exit(2);
        }
        Path scratch = Files.createTempDirectory("refinery-probe-");
        // every way out is System.exit (a worker's idle exit included): the hook clears the scratch folder
        Runtime.getRuntime().addShutdownHook(new Thread(() -> Folders.deleteQuietly(scratch)));
        InferenceService inference = new OrtRuntime().service(Device.CPU, scratch);
        if (args[0].equals(SERVE)) {
            serve(inference);
            return;
        }
        List<ProbeRun> runs = ProbeRun.withDeployer(ProbeRun.parseAll(String.join(" ",
                Arrays.asList(args).subList(1, args.length))));
        Outcome outcome = probe(Path.of(args[0]), runs, inference, said -> {
            // the host tells where a crash happened by these lines
            System.out.println(PREFIX + said);
            System.out.flush();
        });
        if (!outcome.reason().isEmpty()) {
            System.err.println(outcome.reason());
        }
        System.exit(outcome.code());
    }

    private static void serve(InferenceService inference) throws IOException {
        PrintStream out = System.out;
        AtomicLong lastRequest = new AtomicLong(System.nanoTime());
        AtomicBoolean busy = new AtomicBoolean();
        Thread idle = new Thread(() -> {
            while (true) {
                try {
                    Thread.sleep(1_000);
                } catch (InterruptedException e) {
                    return;
                }
                if (!busy.get() && (System.nanoTime() - lastRequest.get()) / 1_000_000 > IDLE_MILLIS) {
                    System.exit(0);
                }
            }
        }, "probe-idle");
        idle.setDaemon(true);
        idle.start();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            busy.set(true);
            out.println(PREFIX + "started");
            out.flush();
            int tab = line.indexOf('\t');
            Outcome outcome;
            try {
                List<ProbeRun> runs = ProbeRun.withDeployer(tab < 0 ? List.of() : ProbeRun.parseAll(line.substring(0, tab)));
                outcome = probe(Path.of(line.substring(tab + 1)), runs, inference, said -> {
                    out.println(PREFIX + said);
                    out.flush();
                });
            } catch (IllegalArgumentException e) { // a request this program does not read: the host's bug
                outcome = new Outcome(4, "the probe could not read its request: " + e.getMessage());
            }
            out.println(PREFIX + "done " + outcome.code() + " " + outcome.reason());
            out.flush();
            lastRequest.set(System.nanoTime());
            busy.set(false);
        }
        System.exit(0);
    }

    /**
     * Reads and validates {@code model}, then opens a session for each thread count of {@code runs} (in their
     * order) and makes the runs of that count in it; {@code say} hears where it is ({@link ProbeProgress}).
     */
    static Outcome probe(Path model, List<ProbeRun> runs, InferenceService inference, Consumer<String> say) {
        try {
            OnnxModel onnx = OnnxModel.load(model);
            ModelValidator.validate(onnx);
            Map<Integer, List<ProbeRun>> bySession = new LinkedHashMap<>();
            for (ProbeRun run : runs) {
                bySession.computeIfAbsent(run.intraOpThreads(), t -> new ArrayList<>()).add(run);
            }
            Set<ProbeRun> made = new HashSet<>();
            for (List<ProbeRun> sessionRuns : bySession.values()) {
                int threads = sessionRuns.get(0).intraOpThreads();
                say.accept(ProbeProgress.OPENING + sessionRuns.get(0).word());
                SessionOptions options = threads == 0 ? SessionOptions.defaults()
                        : SessionOptions.defaults().withIntraOpThreads(threads);
                try (InferenceSession session = inference.open(onnx, options)) {
                    say.accept(ProbeProgress.OPENED);
                    for (ProbeRun asked : sessionRuns) {
                        ProbeRun run = new ProbeRun(fedBatch(session.inputs(), asked.batch()), threads);
                        if (made.contains(run)) {
                            continue; // the model fixes its batch: this run would repeat one made
                        }
                        boolean deployers = made.isEmpty(); // the first run is a deployer's: it is always made
                        if (!deployers && !fitsHeap(session.inputs(), run.batch())) {
                            continue; // the host, with its own heap, makes it unchecked rather than fail the model here
                        }
                        made.add(run);
                        Map<String, Tensor> feeds;
                        try {
                            feeds = Evaluator.generatedInputs(session.inputs(), run.batch());
                        } catch (InvalidDataException e) {
                            continue; // string inputs, or too large to generate: loading is all there is to check
                        }
                        say.accept(ProbeProgress.RUNNING + run.word());
                        try {
                            session.run(feeds);
                        } catch (InferenceException e) {
                            if (deployers || !outOfMemory(e)) {
                                throw e;
                            }
                            // as for the heap: the host, without this child's address-space cap, makes this run itself
                        }
                    }
                }
            }
            return new Outcome(0, "");
        } catch (InvalidInputException e) {
            return new Outcome(2, oneLine(e));
        } catch (Exception e) {
            return new Outcome(4, oneLine(e));
        }
    }

    /** Heap bytes one generated input value takes while it is made and fed (its doubles, its tensor's floats). */
    private static final long BYTES_PER_GENERATED_VALUE = 16;

    /**
     * Whether inputs generated at {@code batch} take at most half the heap still free: a larger batch than a
     * deployer's must not fail a model for this child's heap, which is smaller than the host's.
     */
    private static boolean fitsHeap(List<TensorInfo> inputs, int batch) {
        Runtime runtime = Runtime.getRuntime();
        long free = runtime.maxMemory() - (runtime.totalMemory() - runtime.freeMemory());
        double values = 0; // in doubles: a product of dimensions may not fit a long
        for (TensorInfo input : inputs) {
            double count = 1;
            long[] shape = input.shape();
            for (int i = 0; i < shape.length; i++) {
                count *= shape[i] > 0 ? shape[i] : i == 0 ? batch : 1;
            }
            values += count;
        }
        return values * BYTES_PER_GENERATED_VALUE <= free / 2.0;
    }

    /** Whether ONNX Runtime could not allocate what a run needs ("Failed to allocate memory for requested buffer"). */
    private static boolean outOfMemory(InferenceException e) {
        String message = e.getMessage() == null ? "" : e.getMessage().toLowerCase(Locale.ROOT);
        return message.contains("failed to allocate") || message.contains("bad_alloc") || message.contains("bad allocation");
    }

    /** The batch inputs generated for {@code batch} have, as the evaluator batches: the model's, where it fixes one. */
    private static int fedBatch(List<TensorInfo> inputs, int batch) {
        try {
            return Datasets.batchSize(inputs, batch);
        } catch (InvalidDataException e) {
            return batch; // inputs fixing different batches: each keeps its own, the symbolic ones get this
        }
    }

    private static String oneLine(Exception e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().lines().findFirst().orElse("");
    }
}
