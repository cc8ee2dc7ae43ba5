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
     */
    public record Problem(Kind kind, String reason, boolean opened) {
        /** The reason as the probe's older callers read it, with "the process died of" before a crash. */
        public String describe() {
            return kind == Kind.CRASHED ? "the process died of " + reason : reason;
        }
    }

    /** What the child prints on stdout once its session is open (see {@link ModelProbe}). */
    static final String OPENED = "session opened";

    /** The JVM's fatal error report names the signal ("#  SIGSEGV (0xb) at pc=...") and the frame's library. */
    private static final Pattern REPORTED_SIGNAL = Pattern.compile("^#\\s+(SIG[A-Z0-9]+) \\(0x[0-9a-f]+\\)");
    private static final Pattern PROBLEMATIC_FRAME = Pattern.compile("^#\\s+[CjJvV]\\s+\\[([^+\\]]+)");

    /**
     * Probes {@code model}.
     *
     * @throws InvalidInputException when the child refuses the model, crashes, runs out of memory or time
     */
    public void check(Path model) {
        failure(model).ifPresent(why -> {
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

    /** Probes {@code model}: empty when the child opened and ran it. */
    public Optional<Problem> failure(Path model) {
        Path work = null;
        try {
            work = Files.createTempDirectory("refinery-probe-");
            Path errors = work.resolve("stderr.txt");
            Path said = work.resolve("stdout.txt");
            Path report = work.resolve("fatal-error.log");
            Process child = new ProcessBuilder(command(limits, mainClass, report, model.toAbsolutePath().toString()))
                    .directory(work.toFile()).redirectOutput(said.toFile()).redirectError(errors.toFile()).start();
            if (!child.waitFor(limits.timeout().toMillis(), TimeUnit.MILLISECONDS)) {
                child.destroyForcibly().waitFor();
                return Optional.of(new Problem(Kind.TIMED_OUT, "it did not finish within "
                        + limits.timeout().toSeconds() + " s", opened(said)));
            }
            int exit = child.exitValue();
            if (exit == 0 && !Files.exists(report)) {
                return Optional.empty();
            }
            return Optional.of(ended(exit, report, lastLine(errors), opened(said), limits));
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
    static Problem ended(int exit, Path report, String last, boolean opened, Limits limits) throws IOException {
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

    private static boolean opened(Path stdout) throws IOException {
        return Files.exists(stdout) && Files.readString(stdout, StandardCharsets.UTF_8).contains(OPENED);
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
