package io.modelrefinery.host.cli;

import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformKind;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

class TerminalProgressTest {
    private static final TransformDescriptor CALIBRATE = TransformDescriptor.builder("calibrate").version("1.0.0")
            .kind(TransformKind.COMPRESSOR).accepts(ModelFormat.ONNX).produces(ModelFormat.ONNX).summary("test").build();
    private static final StepRecord DONE = new StepRecord("calibrate", "1.0.0", Map.of(), 1500, "cpu", Map.of(), List.of());

    @Test
    void logStyleOutputPrintsWholeLines() {
        StringWriter text = new StringWriter();
        TerminalProgress progress = new TerminalProgress(new PrintWriter(text), false, 0);

        progress.stepStarted(1, 2, CALIBRATE);
        progress.stepProgress(1, 30, 100, "samples");
        progress.stepFinished(1, DONE);
        progress.stepStarted(2, 2, CALIBRATE);
        progress.stepFinished(2, DONE);

        assertEquals("[1/2] calibrate ...\n[1/2] calibrate: samples 30/100 (30%)\n[1/2] calibrate done in 1.50 s\n"
                + "[2/2] calibrate ... done in 1.50 s\n", text.toString());
    }

    @Test
    void updatesWithinTheIntervalAreDropped() {
        StringWriter text = new StringWriter();
        TerminalProgress progress = new TerminalProgress(new PrintWriter(text), false, Long.MAX_VALUE);

        progress.stepStarted(1, 1, CALIBRATE);
        progress.stepProgress(1, 1, 100, "samples");
        progress.stepFailed(1, new IllegalStateException("x"));

        assertEquals("[1/1] calibrate ... failed\n", text.toString());
    }

    @Test
    void terminalsRedrawOneLine() {
        StringWriter text = new StringWriter();
        TerminalProgress progress = new TerminalProgress(new PrintWriter(text), true, 0);

        progress.stepStarted(1, 1, CALIBRATE);
        progress.stepProgress(1, 5, 10, "batches");
        progress.stepFinished(1, DONE);

        assertEquals("[1/1] calibrate ...\r\033[K[1/1] calibrate: batches 5/10 (50%)\r\033[K[1/1] calibrate done in 1.50 s\n",
                text.toString());
    }

    @Test
    void milestonesAreNeverThrottled() {
        StringWriter text = new StringWriter();
        TerminalProgress progress = new TerminalProgress(new PrintWriter(text), false, Long.MAX_VALUE);

        progress.stepStarted(1, 1, CALIBRATE);
        progress.stepProgress(1, 1, 100, "training epoch 1/2, loss 0.5");
        progress.stepMilestone(1, "epoch 1/2: loss 0.4000, accuracy 90.00%");
        progress.stepMilestone(1, "epoch 2/2: loss 0.3000, accuracy 92.00%");
        progress.stepFinished(1, DONE);

        assertEquals("[1/1] calibrate ...\n[1/1] calibrate: epoch 1/2: loss 0.4000, accuracy 90.00%\n"
                + "[1/1] calibrate: epoch 2/2: loss 0.3000, accuracy 92.00%\n[1/1] calibrate done in 1.50 s\n", text.toString());
    }

    @Test
    void anAutoCandidateIsAnnouncedWhenItStartsOnALineOfItsOwn() {
        StringWriter text = new StringWriter();
        TerminalProgress progress = new TerminalProgress(new PrintWriter(text), true, 0);

        progress.stepStarted(1, 1, CALIBRATE);
        progress.candidateStarted("quantize-static(method=entropy)");

        assertEquals("[1/1] calibrate ...\n[auto] trying quantize-static(method=entropy) ...\n", text.toString());
    }
}
