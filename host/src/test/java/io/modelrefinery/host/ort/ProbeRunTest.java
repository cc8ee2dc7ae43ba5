package io.modelrefinery.host.ort;

import io.modelrefinery.host.eval.Evaluator;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** What the host asks of the check's child, and how it reads back where the child was. */
class ProbeRunTest {
    @Test
    void aRequestNamesBatchAndThreadsAndReadsBackAsItWasWritten() {
        List<ProbeRun> runs = ProbeRun.withDeployer(new Evaluator.Settings(64, 0, 20, 3).probeRuns(true));

        String words = String.join(" ", runs.stream().map(ProbeRun::word).toList());
        assertEquals("batch=1,threads=0 batch=64,threads=0 batch=1,threads=1", words);
        assertEquals(runs, ProbeRun.parseAll(words));
        assertEquals(List.of(ProbeRun.DEPLOYER, new ProbeRun(1, 1)),
                ProbeRun.withDeployer(new Evaluator.Settings(64, 0, 20, 3).probeRuns(false)),
                "without samples to score, the evaluation only times the model");
        assertEquals(List.of(ProbeRun.DEPLOYER), ProbeRun.withDeployer(List.of(ProbeRun.DEPLOYER)), "no run twice");
        assertThrows(IllegalArgumentException.class, () -> ProbeRun.parse("batch=64;threads=1"));
    }

    @Test
    void whereTheChildWasIsItsLastLineAndALineItShouldNotWriteChangesNothing() {
        ProbeProgress progress = new ProbeProgress();
        assertEquals(ProbeRun.DEPLOYER, progress.run());

        progress.accept("opening batch=1,threads=0");
        progress.accept("opened");
        progress.accept("running batch=64,threads=0");
        progress.accept("opening batch=1,threads=1");
        assertEquals(new ProbeRun(1, 1), progress.run());
        assertEquals(false, progress.opened());
        progress.accept("running batch=-3,threads=1");
        assertEquals(new ProbeRun(1, 1), progress.run());
        assertEquals(false, progress.opened());

        assertEquals("at batch 64 with default session options", new ProbeRun(64, 0).describe());
        assertEquals("at batch 1 with 1 intra-op thread", new ProbeRun(1, 1).describe());
        assertEquals("with default session options", ProbeRun.DEPLOYER.describe());
    }
}
