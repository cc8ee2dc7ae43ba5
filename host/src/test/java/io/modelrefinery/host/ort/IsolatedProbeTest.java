package io.modelrefinery.host.ort;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Whatever happens to a model in the child process, the host gets one clear refusal and keeps running. */
class IsolatedProbeTest {
    private static final IsolatedProbe.Limits LIMITS = new IsolatedProbe.Limits(64L << 20, 8L << 30, Duration.ofSeconds(20));

    @TempDir
    Path dir;

    /** Aborts itself with SIGABRT, as ONNX Runtime's native code does when one of its checks fails on a hostile model. */
    public static final class NativeCrash {
        public static void main(String[] args) throws Exception {
            new ProcessBuilder("kill", "-ABRT", Long.toString(ProcessHandle.current().pid())).start().waitFor();
            Thread.sleep(Long.MAX_VALUE);
        }
    }

    /** Writes to address 0: the JVM catches the SIGSEGV, writes its fatal error report and exits with 1. */
    public static final class Segfault {
        public static void main(String[] args) throws Exception {
            writeToAddressZero();
        }
    }

    static void writeToAddressZero() {
        try {
            java.lang.reflect.Field field = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
            field.setAccessible(true);
            ((sun.misc.Unsafe) field.get(null)).putAddress(0L, 42L);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Probes as {@link ModelProbe} does, with ONNX Runtime, and dies of SIGSEGV as it is about to run a model at
     * a batch larger than 1: a model that crashes ONNX Runtime only as the evaluator scores it.
     */
    public static final class CrashesAtALargerBatch {
        public static void main(String[] args) throws Exception {
            InferenceService inference = new OrtRuntime().service(Device.CPU, Path.of("ort").toAbsolutePath());
            List<ProbeRun> runs = ProbeRun.withDeployer(ProbeRun.parseAll(String.join(" ",
                    Arrays.asList(args).subList(1, args.length))));
            ModelProbe.Outcome outcome = ModelProbe.probe(Path.of(args[0]), runs, inference, said -> {
                System.out.println(ModelProbe.PREFIX + said);
                System.out.flush();
                if (said.startsWith(ProbeProgress.RUNNING)
                        && ProbeRun.parse(said.substring(ProbeProgress.RUNNING.length())).batch() > 1) {
                    writeToAddressZero();
                }
            });
            System.exit(outcome.code());
        }
    }

    public static final class Hang {
        public static void main(String[] args) throws Exception {
            Thread.sleep(Long.MAX_VALUE);
        }
    }

    public static final class MemoryHog {
        public static void main(String[] args) {
            List<long[]> hoard = new ArrayList<>();
            while (true) {
                hoard.add(new long[1 << 20]);
            }
        }
    }

    private InvalidInputException refusal(Class<?> program, Path model, Duration timeout) {
        IsolatedProbe probe = new IsolatedProbe(new IsolatedProbe.Limits(LIMITS.heapBytes(), LIMITS.addressSpaceBytes(),
                timeout), program.getName());
        return assertThrows(InvalidInputException.class, () -> probe.check(model));
    }

    @Test
    void aSoundModelPassesAndADamagedOneIsRefusedWithTheValidatorsReason() throws Exception {
        new IsolatedProbe(LIMITS).check(TestModels.sampleCnnFile());

        byte[] bytes = Files.readAllBytes(TestModels.sampleCnnFile());
        Path truncated = Files.write(dir.resolve("truncated.onnx"), Arrays.copyOf(bytes, 900));
        InvalidInputException refused = assertThrows(InvalidInputException.class,
                () -> new IsolatedProbe(LIMITS).check(truncated));
        assertEquals("ONNX Runtime could not safely open truncated.onnx in an isolated probe: not an ONNX model: "
                + truncated.toAbsolutePath() + " (While parsing a protocol message, the input ended unexpectedly in the "
                + "middle of a field.  This could mean either that the input has been truncated or that an embedded "
                + "message misreported its own length.)", refused.getMessage());
    }

    @Test
    void aNativeCrashEndsTheChildNotTheHost() {
        InvalidInputException refused = refusal(NativeCrash.class, TestModels.sampleCnnFile(), Duration.ofSeconds(30));

        assertEquals("ONNX Runtime could not safely open seed_cnn_binary.onnx in an isolated probe: the process died of "
                + "signal 6", refused.getMessage());
    }

    @Test
    void aSignalTheJvmCaughtIsNamedWithTheLibraryItHitNotReadAsAnExitCode() {
        IsolatedProbe probe = new IsolatedProbe(LIMITS, Segfault.class.getName());

        IsolatedProbe.Problem problem = probe.failure(TestModels.sampleCnnFile()).orElseThrow();

        assertEquals(IsolatedProbe.Kind.CRASHED, problem.kind());
        assertEquals("signal SIGSEGV in libjvm.so", problem.reason());
        assertEquals(false, problem.opened());
    }

    @Test
    void aModelThatCrashesOnlyAtTheEvaluationBatchIsRefusedNamingTheRunAndTheHostRunsOn() {
        IsolatedProbe probe = new IsolatedProbe(new IsolatedProbe.Limits(512L << 20, 8L << 30, Duration.ofSeconds(60)),
                CrashesAtALargerBatch.class.getName());
        List<ProbeRun> evaluation = List.of(new ProbeRun(64, 0), new ProbeRun(1, 1));

        probe.check(TestModels.sampleCnnFile());
        InvalidInputException refused = assertThrows(InvalidInputException.class,
                () -> probe.check(TestModels.sampleCnnFile(), evaluation));

        assertEquals("ONNX Runtime could not safely open seed_cnn_binary.onnx in an isolated probe: the process died of "
                + "signal SIGSEGV in libjvm.so running it at batch 64 with default session options", refused.getMessage());
        probe.check(TestModels.sampleCnnFile()); // the next child, and this process, run on
    }

    @Test
    void runningOutOfTimeOrMemoryIsARefusalToo() {
        assertEquals("ONNX Runtime could not safely open seed_cnn_binary.onnx in an isolated probe: it did not finish "
                + "within 2 s", refusal(Hang.class, TestModels.sampleCnnFile(), Duration.ofSeconds(2)).getMessage());
        assertEquals("ONNX Runtime could not safely open seed_cnn_binary.onnx in an isolated probe: it ran out of its "
                + "64 MiB of heap", refusal(MemoryHog.class, TestModels.sampleCnnFile(), Duration.ofSeconds(30)).getMessage());
    }
}
