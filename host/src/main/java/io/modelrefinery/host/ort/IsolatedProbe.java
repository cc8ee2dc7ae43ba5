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

    /**
     * Probes {@code model}.
     *
     * @throws InvalidInputException when the child refuses the model, crashes, runs out of memory or time
     */
    public void check(Path model) {
        problem(model).ifPresent(why -> {
            throw new InvalidInputException("ONNX Runtime could not safely open " + model.getFileName()
                    + " in an isolated probe: " + why);
        });
    }

    /**
     * Probes {@code model} and says what went wrong, in one line: the child's own reason, or how it ended
     * (a signal, its heap, its time limit).
     */
    public Optional<String> problem(Path model) {
        List<String> command = new ArrayList<>();
        if (Files.isExecutable(PRLIMIT)) {
            command.addAll(List.of(PRLIMIT.toString(), "--as=" + limits.addressSpaceBytes(), "--"));
        }
        command.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx" + limits.heapBytes(), "-XX:+ExitOnOutOfMemoryError", "-XX:-UsePerfData", "-XX:-CreateCoredumpOnCrash",
                "-Drefinery.log.level=ERROR", "-cp", absoluteClassPath(), mainClass,
                model.toAbsolutePath().toString()));
        Path work = null;
        try {
            work = Files.createTempDirectory("refinery-probe-");
            Path errors = work.resolve("stderr.txt");
            Process child = new ProcessBuilder(command).directory(work.toFile()) // a crash report lands there
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(errors.toFile()).start();
            if (!child.waitFor(limits.timeout().toMillis(), TimeUnit.MILLISECONDS)) {
                child.destroyForcibly().waitFor();
                return Optional.of("it did not finish within " + limits.timeout().toSeconds() + " s");
            }
            int exit = child.exitValue();
            String said = Files.readString(errors, StandardCharsets.UTF_8).lines().filter(l -> !l.isBlank())
                    .reduce((a, b) -> b).orElse("").trim();
            if (exit == 0) {
                return Optional.empty();
            }
            if (exit == 2 || exit == 4) {
                return Optional.of(said.isEmpty() ? "exit code " + exit : said);
            }
            if (exit == 3) { // -XX:+ExitOnOutOfMemoryError
                return Optional.of("it ran out of its " + (limits.heapBytes() >> 20) + " MiB of heap");
            }
            return Optional.of(exit > 128 ? "the process died of signal " + (exit - 128) : "exit code " + exit
                    + (said.isEmpty() ? "" : ": " + said));
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
}
