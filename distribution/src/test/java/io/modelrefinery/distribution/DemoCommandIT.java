package io.modelrefinery.distribution;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code refinery demo}: the service with its embedded broker, one model through Kafka, from the distribution. */
class DemoCommandIT {
    @TempDir
    Path dir;

    @Test
    void demoPrintsTheOptimizedEventOfTheSampleModel() throws Exception {
        Cli.Result result = Cli.run(dir, "demo");

        assertEquals(0, result.exitCode(), result.stderr());
        JsonNode event = new ObjectMapper().readTree(result.stdout());
        assertEquals("io.modelrefinery.model.optimized", event.get("type").asText());
        assertEquals("seed-cnn:1", event.get("subject").asText());
        assertEquals(14_760, event.at("/data/input/bytes").asLong());
        assertTrue(event.at("/data/output/bytes").asLong() < 0.6 * 14_760, event.toString());
        assertEquals("fp16", event.at("/data/steps/0/transform").asText());
        assertFalse(result.stderr().contains("WARN"), result.stderr());
        assertFalse(result.stderr().contains("ERROR"), result.stderr());
    }

    @Test
    void aRegisteredKerasModelIsConvertedAndOptimizedInOneJob() throws Exception {
        Path keras = Path.of(System.getProperty("refinery.root"), "plugins/keras/src/test/fixtures/seed_cnn.keras");

        Cli.Result result = Cli.run(dir, "demo", "--model", keras.toString());

        assertEquals(0, result.exitCode(), result.stderr());
        JsonNode event = new ObjectMapper().readTree(result.stdout());
        assertEquals("io.modelrefinery.model.optimized", event.get("type").asText());
        assertEquals("seed_cnn:1", event.get("subject").asText());
        assertEquals("keras-to-onnx", event.at("/data/steps/0/transform").asText());
        assertEquals("fp16", event.at("/data/steps/1/transform").asText());
        assertTrue(event.at("/data/output/bytes").asLong() < 0.6 * 14_760, event.toString());
        assertFalse(result.stderr().contains("WARN"), result.stderr());
    }
}
