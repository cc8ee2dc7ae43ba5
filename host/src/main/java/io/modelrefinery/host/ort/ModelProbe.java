package io.modelrefinery.host.ort;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.InvalidDataException;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.ModelValidator;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.host.eval.Evaluator;
import io.modelrefinery.host.files.Folders;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The program an {@link IsolatedProbe} runs in a child JVM: reads and validates a model, opens an ONNX
 * Runtime session on it with the default options (all graph optimizations, as a deployer opens it) and runs
 * it once on generated inputs, saying on stdout when the session is open. Exit code 0 when all of that works,
 * 2 with one line on stderr when the model is refused, 4 when something else fails; anything worse (a native
 * crash; running out of memory, which the JVM reports as 3; running out of time) ends the child, not the host.
 *
 * <p>With {@value #SERVE} instead of a model it serves a {@link ProbeWorker}: one model path a line on stdin,
 * and for each, lines on stdout that begin with {@value #PREFIX}: {@code started}, {@code opened} once the
 * session is open, {@code done CODE REASON} with the codes above. It exits when stdin closes (the host is
 * gone) or after {@link #IDLE_MILLIS} without a model.
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
        if (args.length != 1) {
            System.err.println("usage: ModelProbe MODEL.onnx | " + SERVE);
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
        Outcome outcome = probe(Path.of(args[0]), inference, () -> {
            // the host tells a crash at run time from one while opening by this line
            System.out.println(IsolatedProbe.OPENED);
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
            Outcome outcome = probe(Path.of(line), inference, () -> {
                out.println(PREFIX + "opened");
                out.flush();
            });
            out.println(PREFIX + "done " + outcome.code() + " " + outcome.reason());
            out.flush();
            lastRequest.set(System.nanoTime());
            busy.set(false);
        }
        System.exit(0);
    }

    /** Reads, validates, opens and runs {@code model}; {@code opened} runs once its session is open. */
    static Outcome probe(Path model, InferenceService inference, Runnable opened) {
        try {
            OnnxModel onnx = OnnxModel.load(model);
            ModelValidator.validate(onnx);
            try (InferenceSession session = inference.open(onnx)) {
                opened.run();
                Map<String, Tensor> feeds;
                try {
                    feeds = Evaluator.generatedInputs(session.inputs());
                } catch (InvalidDataException e) {
                    return new Outcome(0, ""); // string inputs: nothing to generate, loading is all there is to check
                }
                session.run(feeds);
            }
            return new Outcome(0, "");
        } catch (InvalidInputException e) {
            return new Outcome(2, oneLine(e));
        } catch (Exception e) {
            return new Outcome(4, oneLine(e));
        }
    }

    private static String oneLine(Exception e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().lines().findFirst().orElse("");
    }
}
