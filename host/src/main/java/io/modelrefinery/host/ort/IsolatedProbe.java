package io.modelrefinery.host.ort;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.host.files.Folders;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * Opens and runs an untrusted model once in a child JVM before the host touches it. ONNX Runtime's native
 * code can take a whole process down on a hostile model; here it takes down only the child, which also has
 * its own heap cap, an address-space cap (where {@code prlimit} exists) and a time limit.
 */
public final class IsolatedProbe {
    private static final Path PRLIMIT = Path.of("/usr/bin/prlimit");

    /**
     * @param heap the child's maximum heap
     * @param addressSpace the child's maximum virtual memory (native allocations included)
     * @param timeout how long the child may take
     */
    public record Limits(long heapBytes, long addressSpaceBytes, Duration timeout) {
        /** 512 MiB of heap, 8 GiB of address space, 2 minutes. */
        public static Limits defaults() {
            return new Limits(512L << 20, 8L << 30, Duration.ofMinutes(2));
        }

        /** The defaults, with room for a model of {@code bytes}: the child holds it a few times over. */
        public static Limits forModel(long bytes) {
            Limits d = defaults();
            return new Limits(Math.max(d.heapBytes(), 4 * bytes), d.addressSpaceBytes() + 8 * bytes, d.timeout());
        }
    }

    private final Limits limits;
    private final String mainClass;

    public IsolatedProbe(Limits limits) {
        this(limits, ModelProbe.class.getName());
    }

    /** @param mainClass the program the child runs on the model (tests substitute misbehaving ones) */
    IsolatedProbe(Limits limits, String mainClass) {
        this.limits = limits;
        this.mainClass = mainClass;
    }

    /** The host's class path, each entry absolute: the child runs in its own folder. */
    private static String absoluteClassPath() {
        return Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
                .map(entry -> entry.isEmpty() ? entry : Path.of(entry).toAbsolutePath().toString())
                .collect(Collectors.joining(File.pathSeparator));
    }

    /** How a probe ended badly. */
    public enum Kind {
        /** The child read the model and refused it (not ONNX, invalid). */
        REFUSED,
        /** ONNX Runtime reported an error opening or running the model. */
        FAILED,
        /** The child died of a signal: a native crash, or it was killed. */
        CRASHED,
        /** The child ran out of its heap. */
        OUT_OF_MEMORY,
        /** The child did not finish in time. */
        TIMED_OUT
    }

    /**
     * What went wrong in the child.
     *
     * @param kind how it ended
     * @param reason one line: the child's own reason, or how it ended ("signal SIGSEGV in libonnxruntime.so")
     * @param opened whether the child had opened an ONNX Runtime session on the model when it ended
     * @param run the run the child was opening a session for or making when it ended (the batch it fed, the
     *     intra-op threads); {@link ProbeRun#DEPLOYER} when it had not got that far
     */
    public record Problem(Kind kind, String reason, boolean opened, ProbeRun run) {
        public Problem {
            run = run == null ? ProbeRun.DEPLOYER : run;
        }

        /** A problem before or in a deployer's run. */
        public Problem(Kind kind, String reason, boolean opened) {
            this(kind, reason, opened, ProbeRun.DEPLOYER);
        }

        /**
         * The reason as the probe's older callers read it, with "the process died of" before a crash, and
         * after it where the child was when that was not a deployer's run ("running it at batch 64 with
         * default session options").
         */
        public String describe() {
            return (kind == Kind.CRASHED ? "the process died of " + reason : reason) + (run.equals(ProbeRun.DEPLOYER)
                    ? "" : " " + where());
        }

        /** Where the child was: "opening it with default session options", "running it at batch 64 with 1 intra-op thread". */
        public String where() {
            return opened ? "running it " + run.describe() : "opening it " + run.describeSession();
        }
    }

    /** The JVM's fatal error report names the signal ("#  SIGSEGV (0xb) at pc=...") and the frame's library. */
    private static final Pattern REPORTED_SIGNAL = Pattern.compile("^#\\s+(SIG[A-Z0-9]+) \\(0x[0-9a-f]+\\)");
    private static final Pattern PROBLEMATIC_FRAME = Pattern.compile("^#\\s+[CjJvV]\\s+\\[([^+\\]]+)");

    /**
     * Probes {@code model}.
     *
     * @throws InvalidInputException when the child refuses the model, crashes, runs out of memory or time
     */
    public void check(Path model) {
        check(model, List.of());
    }

    /**
     * Probes {@code model} with a deployer's run and then {@code runs}.
     *
     * @throws InvalidInputException when the child refuses the model, crashes, runs out of memory or time
     */
    public void check(Path model, List<ProbeRun> runs) {
        failure(model, runs).ifPresent(why -> {
            throw new InvalidInputException("ONNX Runtime could not safely open " + model.getFileName()
                    + " in an isolated probe: " + why.describe());
        });
    }

    /**
     * Probes {@code model} and says what went wrong, in one line: the child's own reason, or how it ended
     * (a signal, its heap, its time limit).
     */
    public Optional<String> problem(Path model) {
        return failure(model).map(Problem::describe);
    }

    /** Probes {@code model} with a deployer's run alone: empty when the child opened and ran it. */
    public Optional<Problem> failure(Path model) {
        return failure(model, List.of());
    }

    /**
     * Probes {@code model} with {@link ProbeRun#DEPLOYER}'s run and then {@code runs} (as {@link ModelProbe}
     * makes them): empty when the child opened and ran it so.
     */
    public Optional<Problem> failure(Path model, List<ProbeRun> runs) {
        Path work = null;
        try {
            work = Files.createTempDirectory("refinery-probe-");
            Path errors = work.resolve("stderr.txt");
            Path said = work.resolve("stdout.txt");
            Path report = work.resolve("fatal-error.log");
            List<String> args = new ArrayList<>(List.of(model.toAbsolutePath().toString()));
            ProbeRun.withDeployer(runs).stream().skip(1).map(ProbeRun::word).forEach(args::add);
            Process child = new ProcessBuilder(command(limits, mainClass, report, args.toArray(String[]::new)))
                    .directory(work.toFile()).redirectOutput(said.toFile()).redirectError(errors.toFile()).start();
            if (!child.waitFor(limits.timeout().toMillis(), TimeUnit.MILLISECONDS)) {
                child.destroyForcibly().waitFor();
                ProbeProgress progress = progress(said);
                return Optional.of(new Problem(Kind.TIMED_OUT, "it did not finish within "
                        + limits.timeout().toSeconds() + " s", progress.opened(), progress.run()));
            }
            int exit = child.exitValue();
            if (exit == 0 && !Files.exists(report)) {
                return Optional.empty();
            }
            return Optional.of(ended(exit, report, lastLine(errors), progress(said), limits));
        } catch (IOException e) {
            throw new IllegalStateException("cannot start the model probe: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while probing " + model, e);
        } finally {
            if (work != null) {
                Folders.deleteQuietly(work);
            }
        }
    }

    /** The child's command line: its limits, a fatal error report at {@code report}, {@code mainClass} with {@code args}. */
    static List<String> command(Limits limits, String mainClass, Path report, String... args) {
        List<String> command = new ArrayList<>();
        if (Files.isExecutable(PRLIMIT)) {
            command.addAll(List.of(PRLIMIT.toString(), "--as=" + limits.addressSpaceBytes(), "--"));
        }
        command.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx" + limits.heapBytes(), "-XX:+ExitOnOutOfMemoryError", "-XX:-UsePerfData",
                "-XX:-CreateCoredumpOnCrash", "-XX:ErrorFile=" + report, "-Drefinery.log.level=ERROR",
                "-cp", absoluteClassPath(), mainClass));
        command.addAll(List.of(args));
        return command;
    }

    /**
     * How a child that ended badly ended, from its exit code, its fatal error report (the JVM writes one and
     * exits with 1 when it catches a fatal signal in native code) and the last line it wrote on stderr.
     */
    static Problem ended(int exit, Path report, String last, ProbeProgress progress, Limits limits) throws IOException {
        Problem problem = ended(exit, report, last, progress.opened(), limits);
        return new Problem(problem.kind(), problem.reason(), problem.opened(), progress.run());
    }

    private static Problem ended(int exit, Path report, String last, boolean opened, Limits limits) throws IOException {
        if (Files.exists(report)) {
            return new Problem(Kind.CRASHED, reportedSignal(report), opened);
        }
        if (exit == 2) {
            return new Problem(Kind.REFUSED, last.isEmpty() ? "exit code " + exit : last, opened);
        }
        if (exit == 4) {
            return new Problem(Kind.FAILED, last.isEmpty() ? "exit code " + exit : last, opened);
        }
        if (exit == 3) { // -XX:+ExitOnOutOfMemoryError
            return new Problem(Kind.OUT_OF_MEMORY, "it ran out of its " + (limits.heapBytes() >> 20) + " MiB of heap",
                    opened);
        }
        if (exit > 128) {
            return new Problem(Kind.CRASHED, "signal " + (exit - 128), opened);
        }
        return new Problem(Kind.FAILED, "exit code " + exit + (last.isEmpty() ? "" : ": " + last), opened);
    }

    /** The last line that is not blank, trimmed; empty when there is none. */
    static String lastLine(Path file) throws IOException {
        return !Files.exists(file) ? "" : Files.readString(file, StandardCharsets.UTF_8).lines()
                .filter(l -> !l.isBlank()).reduce((a, b) -> b).orElse("").trim();
    }

    /** Where the child got, from the protocol lines it wrote on {@code stdout} ({@link ModelProbe}). */
    private static ProbeProgress progress(Path stdout) throws IOException {
        ProbeProgress progress = new ProbeProgress();
        if (Files.exists(stdout)) {
            for (String line : Files.readString(stdout, StandardCharsets.UTF_8).lines().toList()) {
                int at = line.lastIndexOf(ModelProbe.PREFIX);
                if (at >= 0) {
                    progress.accept(line.substring(at + ModelProbe.PREFIX.length()));
                }
            }
        }
        return progress;
    }

    /** "SIGSEGV in libonnxruntime.so", from the JVM's fatal error report; "a fatal signal" when it names none. */
    private static String reportedSignal(Path report) throws IOException {
        String signal = null;
        String library = null;
        boolean frameNext = false;
        for (String line : Files.readAllLines(report, StandardCharsets.ISO_8859_1)) {
            if (!line.startsWith("#")) {
                break; // the summary at the top is all that is needed
            }
            Matcher m = REPORTED_SIGNAL.matcher(line);
            if (signal == null && m.find()) {
                signal = m.group(1);
            }
            if (frameNext) {
                Matcher f = PROBLEMATIC_FRAME.matcher(line);
                if (f.find()) {
                    library = f.group(1).trim();
                }
                frameNext = false;
            }
            frameNext |= line.startsWith("# Problematic frame:");
        }
        return (signal == null ? "a fatal signal" : "signal " + signal) + (library == null ? "" : " in " + library);
    }
}
