package io.modelrefinery.host.ort;

import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The kept child that checks model after model: reused while it lives, replaced when a model ends it. */
class ProbeWorkerTest {
    @TempDir
    Path dir;
    private ProbeWorker worker;

    @AfterEach
    void stop() {
        if (worker != null) {
            worker.stop();
        }
    }

    /** Reads requests and never answers. */
    public static final class Silent {
        public static void main(String[] args) throws Exception {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
            while (in.readLine() != null) {
                Thread.sleep(Long.MAX_VALUE);
            }
        }
    }

    @Test
    void oneChildChecksModelAfterModelAndACrashEndsOnlyThatChild() throws Exception {
        worker = new ProbeWorker(IsolatedProbe.Limits.defaults(), ModelProbe.class.getName());
        Path sound = TestModels.sampleCnnFile();
        Path crashing = dir.resolve("attention.onnx");
        TestModels.crashesOnnxRuntime().save(crashing);

        assertEquals(Optional.empty(), worker.failure(sound));
        long first = worker.pid();
        assertEquals(Optional.empty(), worker.failure(sound));
        assertEquals(first, worker.pid(), "the same child served both");

        IsolatedProbe.Problem crash = worker.failure(crashing).orElseThrow();
        assertEquals(IsolatedProbe.Kind.CRASHED, crash.kind());
        assertEquals("signal SIGSEGV in libonnxruntime.so", crash.reason());
        assertFalse(crash.opened(), "it crashed creating the session");

        assertEquals(Optional.empty(), worker.failure(sound), "a new child takes over");
        assertNotEquals(first, worker.pid());
    }

    @Test
    void aRefusedModelKeepsTheChildAndAGoneChildIsReplacedWithoutBlamingTheModel() throws Exception {
        worker = new ProbeWorker(IsolatedProbe.Limits.defaults(), ModelProbe.class.getName());
        Path damaged = Files.write(dir.resolve("damaged.onnx"), new byte[] {1, 2, 3, 4, 5});

        IsolatedProbe.Problem refused = worker.failure(damaged).orElseThrow();
        assertEquals(IsolatedProbe.Kind.REFUSED, refused.kind());
        assertTrue(refused.reason().startsWith("not an ONNX model: "), refused.reason());
        long pid = worker.pid();
        assertTrue(pid > 0);

        // as when it ended by itself, idle, just before the next model
        ProcessHandle.of(pid).orElseThrow().destroyForcibly();
        ProcessHandle.of(pid).ifPresent(p -> p.onExit().join());
        assertEquals(Optional.empty(), worker.failure(TestModels.sampleCnnFile()));
    }

    @Test
    void aChildThatDoesNotAnswerInTimeIsEndedAndTheCheckSaysSo() {
        worker = new ProbeWorker(new IsolatedProbe.Limits(64L << 20, 8L << 30, Duration.ofSeconds(3)),
                Silent.class.getName());

        IsolatedProbe.Problem late = worker.failure(TestModels.sampleCnnFile()).orElseThrow();

        assertEquals(IsolatedProbe.Kind.TIMED_OUT, late.kind());
        assertEquals("it did not finish within 3 s", late.reason());
        assertEquals(-1, worker.pid());
    }
}
