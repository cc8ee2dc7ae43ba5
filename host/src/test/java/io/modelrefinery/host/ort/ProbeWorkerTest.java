package io.modelrefinery.host.ort;

import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;
import io.modelrefinery.host.eval.Evaluator;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
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

    /**
     * Serves as {@link ModelProbe} does, with ONNX Runtime, and dies of SIGSEGV as it is about to run a model on
     * one intra-op thread: a model that crashes ONNX Runtime only as the evaluator times it.
     */
    public static final class CrashesOnOneThread {
        public static void main(String[] args) throws Exception {
            // its folder is the worker's, which the host removes
            InferenceService inference = new OrtRuntime().service(Device.CPU, Path.of("ort").toAbsolutePath());
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null) {
                int tab = line.indexOf('\t');
                System.out.println(ModelProbe.PREFIX + "started");
                ModelProbe.Outcome outcome = ModelProbe.probe(Path.of(line.substring(tab + 1)),
                        ProbeRun.parseAll(line.substring(0, tab)), inference, said -> {
                            System.out.println(ModelProbe.PREFIX + said);
                            System.out.flush();
                            if (said.startsWith(ProbeProgress.RUNNING)
                                    && ProbeRun.parse(said.substring(ProbeProgress.RUNNING.length())).intraOpThreads() == 1) {
                                IsolatedProbeTest.writeToAddressZero();
                            }
                        });
                System.out.println(ModelProbe.PREFIX + "done " + outcome.code() + " " + outcome.reason());
                System.out.flush();
            }
        }
    }

    /** x (float [N, 3], or [1, 3] when {@code fixedBatch}) reshaped to [1, 3]: runs at batch 1 and at no other. */
    static OnnxModel reshapesToOne(boolean fixedBatch) {
        ValueInfoProto.Builder x = OnnxHelper.valueInfo("x", DataType.FLOAT, 1, 3).toBuilder();
        if (!fixedBatch) {
            x.getTypeBuilder().getTensorTypeBuilder().getShapeBuilder().getDimBuilder(0).clearDimValue().setDimParam("N");
        }
        return OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("g",
                List.of(OnnxHelper.node("Reshape", List.of("x", "shape"), List.of("y"))), List.of(x.build()),
                List.of(ValueInfoProto.newBuilder().setName("y").build()),
                List.of(Tensor.ofLongs(new long[] {2}, 1, 3).toProto("shape"))), 16));
    }

    @Test
    void aModelThatCrashesOnlyOnOneIntraOpThreadEndsTheChildThereAndTheProblemSaysWhere() {
        worker = new ProbeWorker(IsolatedProbe.Limits.defaults(), CrashesOnOneThread.class.getName());
        Path sound = TestModels.sampleCnnFile();
        List<ProbeRun> evaluation = new Evaluator.Settings(64, 0, 20, 3).probeRuns(true);
        assertEquals(List.of(new ProbeRun(64, 0), new ProbeRun(1, 1)), evaluation);

        assertEquals(Optional.empty(), worker.failure(sound), "a deployer's run alone does not crash it");
        long first = worker.pid();
        IsolatedProbe.Problem crash = worker.failure(sound, evaluation).orElseThrow();

        assertEquals(IsolatedProbe.Kind.CRASHED, crash.kind());
        assertEquals("signal SIGSEGV in libjvm.so", crash.reason());
        assertTrue(crash.opened());
        assertEquals(new ProbeRun(1, 1), crash.run());
        assertEquals("the process died of signal SIGSEGV in libjvm.so running it at batch 1 with 1 intra-op thread",
                crash.describe());
        // the host's process lives on, and so does checking
        assertEquals(Optional.empty(), worker.failure(sound), "a new child takes over");
        assertNotEquals(first, worker.pid());
    }

    @Test
    void aModelThatFailsOnlyAtTheEvaluationBatchFailsThereAndAFixedBatchStaysAsTheModelHasIt() throws Exception {
        worker = new ProbeWorker(IsolatedProbe.Limits.defaults(), ModelProbe.class.getName());
        Path symbolic = dir.resolve("symbolic.onnx");
        reshapesToOne(false).save(symbolic);
        Path fixed = dir.resolve("fixed.onnx");
        reshapesToOne(true).save(fixed);
        List<ProbeRun> evaluation = List.of(new ProbeRun(64, 0), new ProbeRun(1, 1));

        assertEquals(Optional.empty(), worker.failure(symbolic));
        IsolatedProbe.Problem failed = worker.failure(symbolic, evaluation).orElseThrow();
        assertEquals(IsolatedProbe.Kind.FAILED, failed.kind());
        assertEquals(new ProbeRun(64, 0), failed.run());
        assertTrue(failed.opened());
        assertTrue(failed.reason().contains("Reshape") && failed.reason().contains("{64,3}"), failed.reason());
        assertEquals(1, failed.reason().lines().count());

        assertEquals(Optional.empty(), worker.failure(fixed, evaluation), "fed its own batch of 1, it runs");
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

    @Test
    void aMachineWithCoresToSpareStartsTheChildAheadAndASmallOneAtTheFirstCheck() {
        worker = new ProbeWorker(IsolatedProbe.Limits.defaults(), ModelProbe.class.getName(), 2);
        worker.prestart();
        assertEquals(-1, worker.pid(), "on 2 cores the start would only slow the first step");
        assertEquals(Optional.empty(), worker.failure(TestModels.sampleCnnFile()));
        assertTrue(worker.pid() > 0, "the first check started it");
        worker.stop();

        worker = new ProbeWorker(IsolatedProbe.Limits.defaults(), Silent.class.getName(), ProbeWorker.PRESTART_CORES);
        worker.prestart();
        long pid = worker.pid();
        assertTrue(pid > 0, "started ahead");
        worker.prestart();
        assertEquals(pid, worker.pid(), "a running child is kept");
    }
}
