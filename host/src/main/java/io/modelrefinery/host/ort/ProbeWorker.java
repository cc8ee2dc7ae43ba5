package io.modelrefinery.host.ort;

import io.modelrefinery.host.files.Folders;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Writer;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * A child JVM kept to probe model after model ({@link ModelProbe} {@value ModelProbe#SERVE}), so that checking
 * a step's output in a separate process costs a round trip instead of a JVM start and ONNX Runtime's load
 * each time (docs/benchmarks.md: 0.7 s a fresh child, 6 to 23 ms a kept one on 2 busy cores). A model
 * that crashes it ends that child only: the next probe starts another. It is recycled after
 * {@link #RECYCLE_AFTER} models (native memory ONNX Runtime does not give back), ends by itself when idle, and
 * with its stdin when the host goes. One model at a time: probes from parallel steps wait for each other.
 */
public final class ProbeWorker {
    static final int RECYCLE_AFTER = 200;
    /**
     * The fewest cores on which {@link #prestart} starts the child ahead. Starting takes about 0.75 s of CPU (a
     * JVM and ONNX Runtime's library, 0.5 s of it on the clock), and the first step's inference uses every
     * core: on 2 cores the start only moved into that step. Measured there (MobileNetV3-small,
     * {@code quantize-static}, three CLI jobs each way): calibration 1.19 s with the child starting beside it,
     * 0.80 s without, and the whole job 6.8 s and 7.0 s, the first check waiting for the start instead.
     */
    static final int PRESTART_CORES = 4;
    private static final Object EOF = new Object();
    private static final ProbeWorker SHARED = new ProbeWorker(IsolatedProbe.Limits.defaults(), ModelProbe.class.getName());

    private final IsolatedProbe.Limits limits;
    private final String mainClass;
    private final int cores;
    private volatile Process process;
    private Writer requests;
    private BlockingQueue<Object> replies;
    private Path work;
    private int served;

    /** @param mainClass the worker program (tests substitute misbehaving ones) */
    ProbeWorker(IsolatedProbe.Limits limits, String mainClass) {
        this(limits, mainClass, Runtime.getRuntime().availableProcessors());
    }

    /** @param cores the machine's, as {@link #prestart} weighs them */
    ProbeWorker(IsolatedProbe.Limits limits, String mainClass, int cores) {
        this.limits = limits;
        this.mainClass = mainClass;
        this.cores = cores;
        // without the lock: a check in progress must not hold up the host's exit
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            Process running = process;
            if (running != null) {
                running.destroyForcibly();
            }
        }, "probe-worker-stop"));
    }

    /** The host's worker, with {@link IsolatedProbe.Limits#defaults()}. */
    public static ProbeWorker shared() {
        return SHARED;
    }

    /** The limits each model is probed under: the worker's heap and address space, and the time one model may take. */
    public IsolatedProbe.Limits limits() {
        return limits;
    }

    /**
     * Starts the child if none runs, without waiting for it, on a machine of at least {@value #PRESTART_CORES}
     * cores: a pipeline calls this as it begins, so that the child's JVM and ONNX Runtime start while the first
     * step works. On fewer cores the first check starts it.
     */
    public synchronized void prestart() {
        if (cores < PRESTART_CORES || process != null && process.isAlive() && served < RECYCLE_AFTER) {
            return;
        }
        try {
            stop();
            start();
        } catch (IOException e) {
            stop(); // the check itself will say why it cannot start
        }
    }

    /** Probes {@code model} with a deployer's run alone: {@link #failure(Path, List)}. */
    public Optional<IsolatedProbe.Problem> failure(Path model) {
        return failure(model, List.of());
    }

    /**
     * Probes {@code model} with {@link ProbeRun#DEPLOYER}'s run and then {@code runs}: empty when the worker
     * opened and ran it so, else what went wrong, as {@link IsolatedProbe#failure}.
     */
    public synchronized Optional<IsolatedProbe.Problem> failure(Path model, List<ProbeRun> runs) {
        String request = ProbeRun.withDeployer(runs).stream().map(ProbeRun::word).collect(Collectors.joining(" "))
                + "\t" + model.toAbsolutePath() + "\n";
        try {
            for (int attempt = 1; ; attempt++) {
                if (process == null || !process.isAlive() || served >= RECYCLE_AFTER) {
                    stop();
                    start();
                }
                served++;
                try {
                    requests.write(request);
                    requests.flush();
                } catch (IOException closed) {
                    // it ended (idle) between the check and the write: start another
                }
                long deadline = System.nanoTime() + limits.timeout().toNanos();
                Object first = next(deadline);
                if (first == EOF && attempt == 1) {
                    continue; // it had exited before it read the model: nothing to do with the model
                }
                ProbeProgress progress = new ProbeProgress();
                Object reply = first;
                while (true) {
                    if (reply == null) {
                        Optional<IsolatedProbe.Problem> late = Optional.of(new IsolatedProbe.Problem(
                                IsolatedProbe.Kind.TIMED_OUT, "it did not finish within " + limits.timeout().toSeconds()
                                + " s", progress.opened(), progress.run()));
                        stop();
                        return late;
                    }
                    if (reply == EOF) {
                        return Optional.of(died(progress));
                    }
                    String line = (String) reply;
                    if (line.startsWith("done ")) {
                        int code = Integer.parseInt(line.substring(5, line.indexOf(' ', 5) < 0 ? line.length()
                                : line.indexOf(' ', 5)));
                        String reason = line.indexOf(' ', 5) < 0 ? "" : line.substring(line.indexOf(' ', 5) + 1).trim();
                        return code == 0 ? Optional.empty() : Optional.of(new IsolatedProbe.Problem(code == 2
                                ? IsolatedProbe.Kind.REFUSED : IsolatedProbe.Kind.FAILED,
                                reason.isEmpty() ? "exit code " + code : reason, progress.opened(), progress.run()));
                    }
                    progress.accept(line);
                    reply = next(deadline);
                }
            }
        } catch (IOException e) {
            stop();
            throw new IllegalStateException("cannot start the model probe: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stop();
            throw new IllegalStateException("interrupted while probing " + model, e);
        }
    }

    /** The running worker's process id, -1 when none runs: for tests of its reuse. */
    synchronized long pid() {
        return process != null && process.isAlive() ? process.pid() : -1;
    }

    /** The next reply, {@link #EOF} when the worker's stdout ended, {@code null} when the deadline passed. */
    private Object next(long deadline) throws InterruptedException {
        return replies.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
    }

    /** What ended the worker in the middle of a model; the next probe starts another. */
    private IsolatedProbe.Problem died(ProbeProgress progress) throws IOException, InterruptedException {
        Process ended = process;
        if (!ended.waitFor(10, TimeUnit.SECONDS)) {
            ended.destroyForcibly().waitFor();
        }
        IsolatedProbe.Problem problem = IsolatedProbe.ended(ended.exitValue(), work.resolve("fatal-error.log"),
                IsolatedProbe.lastLine(work.resolve("stderr.txt")), progress, limits);
        stop();
        return problem;
    }

    private void start() throws IOException {
        work = Files.createTempDirectory("refinery-probe-worker-");
        Process started = new ProcessBuilder(IsolatedProbe.command(limits, mainClass, work.resolve("fatal-error.log"),
                ModelProbe.SERVE)).directory(work.toFile()).redirectError(work.resolve("stderr.txt").toFile()).start();
        BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader out = new BufferedReader(new InputStreamReader(started.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = out.readLine()) != null) {
                    // anything else on stdout is not the protocol's, and may precede its line unterminated
                    int at = line.lastIndexOf(ModelProbe.PREFIX);
                    if (at >= 0) {
                        queue.add(line.substring(at + ModelProbe.PREFIX.length()));
                    }
                }
            } catch (IOException e) {
                // the stream broke: the process is gone
            }
            queue.add(EOF);
        }, "probe-worker-reader");
        reader.setDaemon(true);
        reader.start();
        process = started;
        requests = new OutputStreamWriter(started.getOutputStream(), StandardCharsets.UTF_8);
        replies = queue;
        served = 0;
    }

    /** Ends the worker, if one runs, and removes its folder. */
    synchronized void stop() {
        if (process != null) {
            try {
                requests.close(); // the worker exits when its stdin closes
            } catch (IOException e) {
                // already gone
            }
            try {
                if (!process.waitFor(2, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
            }
            process = null;
        }
        if (work != null) {
            Folders.deleteQuietly(work);
            work = null;
        }
    }
}
