package io.modelrefinery.distribution;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelrefinery.testdata.FashionMnist;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code optimize --pipeline distill --train NPZ} as a user runs it, with the bundled distill plugin. */
class DistillIT {
    @TempDir
    Path dir;

    @Test
    void distillsTheSampleModelFromTrainingDataAndReportsEachEpoch() throws Exception {
        FashionMnist.assumeAvailable();
        Path train = FashionMnist.binary(FashionMnist.Split.TRAIN, 1500).writeNpz(dir.resolve("train.npz"));
        Path eval = FashionMnist.binary(FashionMnist.Split.TEST, 500).writeNpz(dir.resolve("test.npz"));
        Path out = dir.resolve("student.onnx");
        Path report = dir.resolve("report.json");

        Cli.Result result = Cli.run(dir, "optimize", TestModels.sampleCnnFile().toString(), "-o", out.toString(),
                "--pipeline", "distill(epochs=2,student-width=0.5)", "--train", train.toString(), "--eval", eval.toString(),
                "--report", report.toString());

        assertEquals(0, result.exitCode(), result.stderr());
        JsonNode json = new ObjectMapper().readTree(report.toFile());
        JsonNode metrics = json.at("/steps/0/metrics");
        assertEquals(3337.0, metrics.at("/teacher-params").asDouble(), metrics.toString());
        assertEquals(json.at("/output/params").asDouble(), metrics.at("/student-params").asDouble(), json.toString());
        assertTrue(json.at("/output/gzipBytes").asLong() < json.at("/input/gzipBytes").asLong() / 2, json.toString());
        assertTrue(metrics.at("/epoch-2-loss").asDouble() < metrics.at("/epoch-1-loss").asDouble(), metrics.toString());
        assertTrue(metrics.at("/epoch-2-accuracy").asDouble() > 0.85, metrics.toString());
        assertTrue(json.at("/evaluation/accuracyAfter").asDouble() > 0.85, json.at("/evaluation").toString());
        assertEquals(json.at("/evaluation/accuracyAfter").asDouble(), metrics.at("/student-accuracy").asDouble(), 1e-9);
        assertTrue(result.stderr().contains("[1/1] distill: epoch 1/2: loss "), "per-epoch progress on the terminal: " + result.stderr());
    }

    @Test
    void refusesDistillWithoutTrainingData() throws Exception {
        Path out = dir.resolve("refused.onnx");
        Cli.Result result = Cli.run(dir, "optimize", TestModels.sampleCnnFile().toString(), "-o", out.toString(),
                "--pipeline", "distill");

        assertEquals(2, result.exitCode(), result.stderr());
        assertEquals("error: step 1 'distill' needs training samples: give --train FILE or the event's trainUri",
                result.stderr().strip());
        assertFalse(Files.exists(out));
    }
}
