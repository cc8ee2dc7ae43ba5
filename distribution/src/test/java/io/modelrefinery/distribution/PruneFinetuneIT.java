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

/**
 * {@code optimize --pipeline 'prune(...,finetune=2),quantize-dynamic' --train NPZ} as a user runs it, with
 * the bundled prune plugin, on 6,000 of the Fashion-MNIST training images (the full run is in
 * docs/benchmarks.md's seed table).
 */
class PruneFinetuneIT {
    @TempDir
    Path dir;

    @Test
    void prunesWhileFineTuningThenQuantizesAndReportsEachEpoch() throws Exception {
        FashionMnist.assumeAvailable();
        Path train = FashionMnist.binary(FashionMnist.Split.TRAIN, 6000).writeNpz(dir.resolve("train.npz"));
        Path eval = FashionMnist.binary(FashionMnist.Split.TEST, 1000).writeNpz(dir.resolve("test.npz"));
        Path out = dir.resolve("pruned.onnx");
        Path report = dir.resolve("report.json");

        Cli.Result result = Cli.run(dir, "optimize", TestModels.sampleCnnFile().toString(), "-o", out.toString(),
                "--pipeline", "prune(sparsity=0.8,initial-sparsity=0.5,finetune=2),quantize-dynamic",
                "--train", train.toString(), "--eval", eval.toString(), "--gate", "max-latency-ratio=3",
                "--report", report.toString());

        assertEquals(0, result.exitCode(), result.stderr());
        JsonNode json = new ObjectMapper().readTree(report.toFile());
        JsonNode metrics = json.at("/steps/0/metrics");
        assertEquals(0.8, metrics.at("/sparsity").asDouble(), 1e-12, metrics.toString());
        assertEquals(2640, metrics.at("/pruned-weights").asLong(), metrics.toString());
        assertEquals(376, metrics.at("/train-steps").asLong(), metrics.toString()); // 6,000 samples in batches of 32, twice
        assertEquals(2, metrics.at("/train-epochs").asLong(), metrics.toString());
        // the loss may rise in the second epoch, while most of the pruning happens; accuracy stays high
        assertTrue(metrics.at("/epoch-1-accuracy").asDouble() > 0.9, metrics.toString());
        assertTrue(metrics.at("/epoch-2-accuracy").asDouble() > 0.9, metrics.toString());
        // the seed's target: at most a quarter of the zipped size, at most half a point of accuracy lost
        assertTrue(json.at("/output/gzipBytes").asLong() <= json.at("/input/gzipBytes").asLong() / 4, json.toString());
        JsonNode evaluation = json.at("/evaluation");
        assertTrue(evaluation.at("/accuracyAfter").asDouble() >= evaluation.at("/accuracyBefore").asDouble() - 0.005,
                evaluation.toString());
        assertTrue(result.stderr().contains("[1/2] prune: epoch 1/2: loss "), "per-epoch progress on the terminal: "
                + result.stderr());
        assertTrue(result.stderr().contains("[1/2] prune: epoch 2/2: loss "), result.stderr());
    }

    @Test
    void refusesFineTuningWithoutTrainingDataAndSaysSoInThePluginList() throws Exception {
        Path out = dir.resolve("refused.onnx");
        Cli.Result result = Cli.run(dir, "optimize", TestModels.sampleCnnFile().toString(), "-o", out.toString(),
                "--pipeline", "graph-optimize,prune(sparsity=0.8,finetune=2)");

        assertEquals(2, result.exitCode(), result.stderr());
        assertEquals("error: step 2 'prune' needs training samples with finetune>0: give --train FILE or the event's "
                + "trainUri", result.stderr().strip());
        assertFalse(Files.exists(out));

        Cli.Result plugins = Cli.run(dir, "plugins");
        assertTrue(plugins.stdout().contains("requires training samples (--train) with finetune>0"), plugins.stdout());
    }
}
