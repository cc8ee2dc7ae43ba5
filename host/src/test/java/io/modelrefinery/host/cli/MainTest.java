package io.modelrefinery.host.cli;

import io.modelrefinery.host.osgi.TestBundles;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Exit codes and error lines of the CLI, run in this JVM with a plugin built by the test. */
class MainTest {
    @TempDir
    Path dir;

    private record Run(int exitCode, String out, String err) {
    }

    private Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new Run(code, out.toString(), err.toString());
    }

    private Path pluginsWithTestTransform() throws Exception {
        Path plugins = Files.createDirectories(dir.resolve("plugins"));
        TestBundles.drop(plugins, "versioned.jar", TestBundles.versioned("1.0.0", Map.of()));
        return plugins;
    }

    @Test
    void aFailingStepExitsWithOneAndOneLine() throws Exception {
        Path out = dir.resolve("out.onnx");
        Run r = run("optimize", TestModels.sampleCnnFile().toString(), "-o", out.toString(),
                "--plugins-dir", pluginsWithTestTransform().toString(), "--pipeline", "test-versioned(fail-with=boom)");

        assertEquals(ExitCode.FAILED, r.exitCode());
        assertTrue(r.err().endsWith("error: step 1 'test-versioned' failed: boom\n"), r.err());
        assertFalse(Files.exists(out));
    }

    @Test
    void everyParameterProblemOfAStepIsPrintedOnItsOwnLine() throws Exception {
        Path out = dir.resolve("out.onnx");
        Run r = run("optimize", TestModels.sampleCnnFile().toString(), "-o", out.toString(),
                "--plugins-dir", pluginsWithTestTransform().toString(), "--pipeline", "test-versioned(sleep-ms=soon,colour=red)");

        assertEquals(ExitCode.BAD_INPUT, r.exitCode());
        assertEquals(java.util.List.of(
                "error: unknown parameter 'colour' for 'test-versioned' (known: [gate, fail-with, sleep-ms])",
                "error: invalid value 'soon' for parameter 'sleep-ms' of 'test-versioned': expected an integer "
                        + "(For input string: \"soon\")"), r.err().lines().filter(l -> l.startsWith("error:")).toList());
        assertFalse(Files.exists(out));
    }

    @Test
    void aSucceedingStepExitsWithZero() throws Exception {
        Path out = dir.resolve("out.onnx");
        Run r = run("optimize", TestModels.sampleCnnFile().toString(), "-o", out.toString(),
                "--plugins-dir", pluginsWithTestTransform().toString(), "--pipeline", "test-versioned", "--device", "cpu");

        assertEquals(ExitCode.OK, r.exitCode(), r.err());
        assertTrue(Files.exists(out));
        assertTrue(r.out().contains("1 step in"), r.out());
    }

    @Test
    void usageErrorsExitWithTwo() {
        Run missing = run("optimize");
        Run noCommand = run();
        Run badDevice = run("optimize", "m.onnx", "-o", "o.onnx", "--device", "tpu");

        assertEquals(ExitCode.BAD_INPUT, missing.exitCode());
        assertEquals(1, missing.err().lines().count(), missing.err());
        assertEquals(ExitCode.BAD_INPUT, noCommand.exitCode());
        assertTrue(noCommand.err().startsWith("error: missing command"));
        assertEquals(ExitCode.BAD_INPUT, badDevice.exitCode());
        assertTrue(badDevice.err().contains("--device"), badDevice.err());
    }

    @Test
    void aMissingOrEmptyApiTokenFileIsBadInputAndNothingStarts() throws Exception {
        Path empty = Files.writeString(dir.resolve("token"), "\n");
        Run missing = run("serve", "--data-dir", dir.resolve("data").toString(), "--api-token-file",
                dir.resolve("none").toString());
        Run blank = run("serve", "--data-dir", dir.resolve("data").toString(), "--api-token-file", empty.toString());

        assertEquals(ExitCode.BAD_INPUT, missing.exitCode());
        assertEquals("error: API token file not found: " + dir.resolve("none") + "\n", missing.err());
        assertEquals(ExitCode.BAD_INPUT, blank.exitCode());
        assertEquals("error: API token file " + empty + ": the API token is empty\n", blank.err());
        assertFalse(Files.exists(dir.resolve("data")), "refused before anything started");
    }

    @Test
    void serveBindsTheLoopbackAddressByDefaultAndReadsTheTokenFile() throws Exception {
        Path token = Files.writeString(dir.resolve("token"), "abc-123\n");
        ServeCommand serve = new ServeCommand();
        new picocli.CommandLine(serve).setCaseInsensitiveEnumValuesAllowed(true).parseArgs("--api-token-file", token.toString());

        io.modelrefinery.host.service.ServiceConfig config = serve.config();

        assertEquals("127.0.0.1", config.httpHost());
        assertTrue(config.apiToken().accepts("Bearer abc-123"));
        assertFalse(config.apiToken().accepts("Bearer abc-12"));
        assertFalse(config.toString().contains("abc-123"), config.toString());
    }

    @Test
    void serveTimesEachJobsResultForItsLatencyBudget() throws Exception {
        ServeCommand byDefault = new ServeCommand();
        new picocli.CommandLine(byDefault).setCaseInsensitiveEnumValuesAllowed(true).parseArgs();
        ServeCommand shorter = new ServeCommand();
        new picocli.CommandLine(shorter).setCaseInsensitiveEnumValuesAllowed(true).parseArgs("--latency-budget", "500ms");

        assertEquals(3000, byDefault.config().evaluation().latencyBudgetMillis());
        assertEquals(500, shorter.config().evaluation().latencyBudgetMillis());
        Run bad = run("serve", "--data-dir", dir.resolve("data").toString(), "--latency-budget", "soon");
        assertEquals(ExitCode.BAD_INPUT, bad.exitCode());
        assertTrue(bad.err().contains("'soon' is not a duration"), bad.err());
        assertFalse(Files.exists(dir.resolve("data")), "refused before anything started");
    }

    @Test
    void aMissingPluginsFolderIsBadInput() {
        Run r = run("plugins", "--plugins-dir", dir.resolve("none").toString());

        assertEquals(ExitCode.BAD_INPUT, r.exitCode());
        assertEquals("error: plugins folder not found: " + dir.resolve("none")
                + " (set --plugins-dir or REFINERY_PLUGINS_DIR)\n", r.err());
    }

    @Test
    void serveTakesMlflowSettingsLikeMlflowsClientsAndRefusesATrackingHostThatIsNotAllowed() throws Exception {
        Path token = Files.writeString(dir.resolve("mlflow-token"), "tok-987\n");
        ServeCommand serve = new ServeCommand();
        new picocli.CommandLine(serve).setCaseInsensitiveEnumValuesAllowed(true).parseArgs("--mlflow-tracking-uri",
                "http://mlflow.mlflow.svc:5000",
                "--allow-private-host", "mlflow.mlflow.svc", "--allow-host=", "--mlflow-tracking-token-file", token.toString(),
                "--mlflow-register", "--mlflow-register-alias", "optimized");
        Run refused = run("serve", "--data-dir", dir.resolve("data").toString(), "--mlflow-tracking-uri",
                "https://mlflow.example.com");

        io.modelrefinery.host.service.ServiceConfig config = serve.config();

        assertEquals(java.util.Optional.of("http://mlflow.mlflow.svc:5000"), config.registry().get("MLFLOW_TRACKING_URI"));
        assertEquals(java.util.Optional.of("tok-987"), config.registry().get("MLFLOW_TRACKING_TOKEN"));
        assertEquals(java.util.Set.of("mlflow.mlflow.svc"), config.privateHosts());
        assertEquals(java.util.Set.of(), config.allowedHosts(), "a blank --allow-host (an empty variable) is none");
        assertEquals(new io.modelrefinery.host.service.Registries.WriteBack(true, "optimized"), config.writeBack());
        assertFalse(config.toString().contains("tok-987"), config.toString());
        assertEquals(ExitCode.BAD_INPUT, refused.exitCode());
        assertEquals("error: the MLflow tracking host 'mlflow.example.com' is not allowed: add --allow-host "
                + "mlflow.example.com (or --allow-private-host mlflow.example.com when it has a cluster-internal address)\n",
                refused.err());
    }
}
