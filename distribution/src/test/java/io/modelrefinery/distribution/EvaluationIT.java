package io.modelrefinery.distribution;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelrefinery.testdata.FashionMnist;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Evaluation, gates and {@code auto} through {@code refinery optimize} with the bundled plugins, on the
 * sample model and its 2,000 Fashion-MNIST test images.
 */
class EvaluationIT {
    @TempDir
    static Path data;
    private static Path evaluation;
    private static Path calibration;

    @TempDir
    Path dir;

    @BeforeAll
    static void datasets() {
        FashionMnist.assumeAvailable();
        evaluation = FashionMnist.binary(FashionMnist.Split.TEST, Integer.MAX_VALUE).writeNpz(data.resolve("test.npz"));
        calibration = FashionMnist.binary(FashionMnist.Split.TRAIN, 200).writeNpz(data.resolve("calibration.npz"));
    }

    private JsonNode report(Path file) throws Exception {
        return new ObjectMapper().readTree(file.toFile());
    }

    @Test
    void theReportCarriesAccuracyFidelityLatencyAndGates() throws Exception {
        Path out = dir.resolve("int8.onnx");
        Path report = dir.resolve("report.json");

        Cli.Result result = Cli.run(dir, "optimize", TestModels.sampleCnnFile().toString(), "-o", out.toString(),
                "--pipeline", "quantize-dynamic", "--eval", evaluation.toString(), "--gate", "max-accuracy-drop=0.005",
                "--gate", "max-latency-ratio=3",
                "--report", report.toString());

        assertEquals(0, result.exitCode(), result.stderr());
        assertTrue(result.stdout().contains("evaluated on 2,000 samples: accuracy 95.20% -> 95.15%"), result.stdout());
        JsonNode e = report(report).get("evaluation");
        assertEquals(2000, e.get("samples").asLong());
        assertEquals(0.952, e.get("accuracyBefore").asDouble(), 1e-9);
        assertEquals(0.9515, e.get("accuracyAfter").asDouble(), 1e-9);
        assertTrue(e.get("sqnrDb").asDouble() > 20, e.toString());
        assertTrue(e.get("top1Agreement").asDouble() > 0.99, e.toString());
        assertTrue(e.get("latencyMsBefore").asDouble() > 0 && e.get("latencyP95MsAfter").asDouble() > 0, e.toString());
        assertEquals("max-accuracy-drop", e.at("/gates/0/gate").asText());
        assertTrue(e.at("/gates/0/passed").asBoolean());
        assertEquals("max-latency-ratio", e.at("/gates/1/gate").asText());
        assertTrue(e.at("/latency/pairs").asInt() >= 20 && e.at("/latency/batch").asInt() == 1, e.toString());
        assertTrue(e.at("/latency/noise").asDouble() >= 0.05, e.toString());
    }

    @Test
    void aQuantizedModelSlowerThanTheOriginalIsRejectedAndNotWritten() throws Exception {
        Path out = dir.resolve("slow.onnx");
        Path report = dir.resolve("report.json");

        Cli.Result result = Cli.run(dir, "optimize", TestModels.sampleCnnFile().toString(), "-o", out.toString(),
                "--pipeline", "quantize-dynamic(conv=integer),gate(max-latency-ratio=1.2)", "--report", report.toString());

        assertEquals(1, result.exitCode(), result.stderr());
        List<String> lines = result.stderrLines();
        assertTrue(lines.get(lines.size() - 1).startsWith("error: gate max-latency-ratio: median latency "), result.stderr());
        assertFalse(Files.exists(out), "a rejected model is not written");
        JsonNode json = report(report);
        assertTrue(json.at("/output/uri").isNull());
        assertTrue(json.at("/evaluation/latencyMsAfter").asDouble() > 1.2 * json.at("/evaluation/latencyMsBefore").asDouble(),
                json.get("evaluation").toString());
        assertFalse(json.at("/evaluation/gates/0/passed").asBoolean());
    }

    @Test
    void byDefaultAQuantizedModelSlowerThanTheOriginalIsRejectedUnlessThePipelineAllowsIt() throws Exception {
        Path out = dir.resolve("slow.onnx");
        Path report = dir.resolve("report.json");

        Cli.Result result = Cli.run(dir, "optimize", TestModels.sampleCnnFile().toString(), "-o", out.toString(),
                "--pipeline", "quantize-dynamic(conv=integer)", "--report", report.toString());

        assertEquals(1, result.exitCode(), result.stderr());
        String error = result.stderrLines().get(result.stderrLines().size() - 1);
        assertTrue(error.matches("error: gate max-latency-ratio: latency \\d+\\.\\d\\dx the original's \\(median of "
                + "\\d+ paired runs at batch 1, noise ±\\d+\\.\\d\\d\\): slower by more than the noise; allow it with "
                + "gate\\(max-latency-ratio=\\.\\.\\.\\)"), error);
        assertFalse(Files.exists(out), "a rejected model is not written");
        JsonNode latency = report(report).at("/evaluation/latency");
        assertTrue(latency.get("ratio").asDouble() - latency.get("noise").asDouble() > 1, latency.toString());
        assertEquals(1, latency.get("batch").asInt());

        Cli.Result allowed = Cli.run(dir, "optimize", TestModels.sampleCnnFile().toString(), "-o", out.toString(),
                "--pipeline", "quantize-dynamic(conv=integer),gate(max-latency-ratio=100)");
        assertEquals(0, allowed.exitCode(), allowed.stderr());
        assertTrue(Files.exists(out));
    }

    @Test
    void autoForLatencyNeverChoosesACandidateSlowerThanTheOriginal() throws Exception {
        Path out = dir.resolve("fast.onnx");
        Path report = dir.resolve("report.json");

        Cli.Result result = Cli.run(dir, "optimize", TestModels.sampleCnnFile().toString(), "-o", out.toString(),
                "--pipeline", "auto(objective=latency,max-latency-ratio=100,fallback=false)", "--eval",
                evaluation.toString(), "--calibration", calibration.toString(), "--report", report.toString(),
                "--latency-budget", "1s");

        assertEquals(0, result.exitCode(), result.stderr());
        JsonNode json = report(report);
        int slower = 0;
        for (JsonNode c : json.get("candidates")) {
            JsonNode latency = c.at("/evaluation/latency");
            if (!latency.isMissingNode() && !latency.isNull()
                    && latency.get("ratio").asDouble() - latency.get("noise").asDouble() > 1) {
                slower++;
                assertEquals("rejected", c.get("outcome").asText(), c.toString());
                assertTrue(c.get("reason").asText().startsWith("auto(objective=latency) never chooses a candidate slower "
                        + "than the original: "), c.toString());
            }
        }
        assertTrue(slower > 0, "dynamic quantization of a CNN is slower on this CPU: " + json.get("candidates"));
        JsonNode chosen = json.at("/evaluation/latency");
        assertTrue(chosen.get("ratio").asDouble() - chosen.get("noise").asDouble() <= 1, chosen.toString());
    }

    @Test
    void autoFindsASmallModelWithinTheAccuracyGateAndListsEveryCandidate() throws Exception {
        Path out = dir.resolve("auto.onnx");
        Path report = dir.resolve("report.json");

        Cli.Result result = Cli.run(dir, "optimize", TestModels.sampleCnnFile().toString(), "-o", out.toString(),
                "--pipeline", "auto(max-accuracy-drop=0.005)", "--eval", evaluation.toString(),
                "--calibration", calibration.toString(), "--report", report.toString());

        assertEquals(0, result.exitCode(), result.stderr());
        JsonNode json = report(report);
        JsonNode candidates = json.get("candidates");
        assertTrue(candidates.size() >= 6, candidates.toString());
        long chosen = 0;
        for (JsonNode c : candidates) {
            assertTrue(List.of("chosen", "passed", "rejected", "failed", "skipped").contains(c.get("outcome").asText()));
            chosen += c.get("outcome").asText().equals("chosen") ? 1 : 0;
        }
        assertEquals(1, chosen);
        JsonNode finetune = null;
        for (JsonNode c : candidates) {
            finetune = c.get("pipeline").asText().contains("finetune=") ? c : finetune;
        }
        assertTrue(finetune != null, candidates.toString());
        assertEquals("skipped", finetune.get("outcome").asText(), finetune.toString());
        assertEquals("step 1 'prune' needs training samples with finetune>0: give --train FILE or the event's trainUri",
                finetune.get("reason").asText());
        assertTrue(json.at("/evaluation/accuracyBefore").asDouble() - json.at("/evaluation/accuracyAfter").asDouble()
                <= 0.005, json.get("evaluation").toString());
        assertTrue(json.at("/output/gzipBytes").asLong() <= 0.30 * 13_251, json.get("output").toString());
        assertTrue(json.get("notes").toString().contains("auto chose "), json.get("notes").toString());
        assertTrue(result.stderr().contains("[auto 1/"), result.stderr());
    }
}
