package io.modelrefinery.host.osgi;

import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.proto.Onnx.ModelProto;
import io.modelrefinery.api.onnx.proto.Onnx.StringStringEntryProto;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.host.pipeline.JobEnvironment;
import io.modelrefinery.host.pipeline.JobListener;
import io.modelrefinery.host.pipeline.PipelinePlan;
import io.modelrefinery.host.pipeline.PipelineResult;
import io.modelrefinery.host.pipeline.PipelineRunner;
import io.modelrefinery.host.pipeline.PipelineSpec;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Hot loading in a real Felix framework with FileInstall watching a real folder. */
class PluginFrameworkTest {
    private static final String ID = "test-versioned";

    @TempDir
    Path dir;
    private Path plugins;
    private PluginFramework framework;

    @BeforeEach
    void start() throws Exception {
        plugins = Files.createDirectories(dir.resolve("plugins"));
        framework = PluginFramework.start(new PluginFramework.Config(plugins, dir.resolve("cache"), Duration.ofMillis(50)));
    }

    @AfterEach
    void stop() {
        framework.close();
    }

    private PluginRegistry registry() {
        return framework.registry();
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("timed out waiting until " + what);
            }
            Thread.sleep(20);
        }
    }

    private Optional<String> offeredVersion() {
        return registry().descriptor(ID).map(d -> d.version());
    }

    private static OnnxModel identityModel() {
        ModelProto proto = OnnxHelper.model(OnnxHelper.graph("g",
                List.of(OnnxHelper.node("Identity", List.of("x"), List.of("y"))),
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, 1)),
                List.of(OnnxHelper.valueInfo("y", DataType.FLOAT, 1)), List.of()), 13);
        return OnnxModel.of(proto);
    }

    /** Runs the test transform through the real pipeline runner, as a job would. */
    private String runJob(String pipeline) {
        PipelineSpec spec = PipelineSpec.parse(pipeline);
        JobEnvironment environment = new JobEnvironment("job-test", new OrtRuntime().service(Device.CPU, dir.resolve("ort")),
                JobData.none(), dir.resolve("jobs"), Cancellation.never());
        try (PipelinePlan plan = PipelinePlan.create(spec, io.modelrefinery.api.plugin.ModelFormat.ONNX, registry())) {
            PipelineResult result = new PipelineRunner().run(plan, ModelArtifact.onnx(identityModel()), environment,
                    JobListener.none());
            return servedBy(result.output().onnxModel());
        }
    }

    private static String servedBy(OnnxModel model) {
        return model.proto().getMetadataPropsList().stream().filter(e -> e.getKey().equals("served-by"))
                .map(StringStringEntryProto::getValue).findFirst().orElse("none");
    }

    @Test
    void droppedJarBecomesUsableReplacedJarUpgradesDeletedJarDisappears() throws Exception {
        TestBundles.drop(plugins, "versioned.jar", TestBundles.versioned("1.0.0", Map.of()));
        await("version 1.0.0 is offered", () -> offeredVersion().equals(Optional.of("1.0.0")));
        assertEquals("1.0.0", runJob(ID));

        TestBundles.drop(plugins, "versioned.jar", TestBundles.versioned("2.0.0", Map.of()));
        await("version 2.0.0 replaces it", () -> offeredVersion().equals(Optional.of("2.0.0")));
        assertEquals("2.0.0", runJob(ID));
        assertEquals(1, registry().offers().size());

        Files.delete(plugins.resolve("versioned.jar"));
        await("the transform is gone", () -> offeredVersion().isEmpty());
        assertTrue(registry().lease(ID).isEmpty());
        assertTrue(registry().plugins().isEmpty());
    }

    @Test
    void runningJobFinishesOnTheVersionItStartedWith() throws Exception {
        TestBundles.drop(plugins, "versioned.jar", TestBundles.versioned("1.0.0", Map.of()));
        await("version 1.0.0 is offered", () -> offeredVersion().equals(Optional.of("1.0.0")));
        Path gate = dir.resolve("gate");

        CompletableFuture<String> job = CompletableFuture.supplyAsync(() -> runJob(ID + "(gate=" + gate + ")"));
        await("the job holds version 1.0.0 and waits at the gate", () -> Files.exists(Path.of(gate + ".waiting")));
        TestBundles.drop(plugins, "versioned.jar", TestBundles.versioned("2.0.0", Map.of()));
        await("version 2.0.0 replaces it", () -> offeredVersion().equals(Optional.of("2.0.0")));
        Files.createFile(gate);

        assertEquals("1.0.0", job.get(30, TimeUnit.SECONDS));
        assertEquals("2.0.0", runJob(ID));
    }

    @Test
    void aJobWhosePluginIsDeletedMidJobFinishesAndTheHostKeepsServing() throws Exception {
        TestBundles.drop(plugins, "versioned.jar", TestBundles.versioned("1.0.0", Map.of()));
        await("version 1.0.0 is offered", () -> offeredVersion().equals(Optional.of("1.0.0")));
        Path gate = dir.resolve("gate-delete");

        CompletableFuture<String> job = CompletableFuture.supplyAsync(() -> runJob(ID + "(gate=" + gate + ")"));
        await("the job holds the transform and waits at the gate", () -> Files.exists(Path.of(gate + ".waiting")));
        Files.delete(plugins.resolve("versioned.jar"));
        await("the transform is withdrawn", () -> offeredVersion().isEmpty());
        Files.createFile(gate);

        assertEquals("1.0.0", job.get(30, TimeUnit.SECONDS));
        TestBundles.drop(plugins, "versioned.jar", TestBundles.versioned("1.1.0", Map.of()));
        await("a new jar is taken up", () -> offeredVersion().equals(Optional.of("1.1.0")));
        assertEquals("1.1.0", runJob(ID));
    }

    @Test
    void withAnAllowListOnlyListedJarsWithTheirExactDigestLoad() throws Exception {
        byte[] listed = TestBundles.versioned("1.0.0", Map.of());
        byte[] altered = TestBundles.versioned("1.0.1", Map.of());
        Path allowList = Files.writeString(dir.resolve("allow.txt"), "# reviewed plugins\n"
                + "test.versioned " + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(listed)) + "\n");
        Path restricted = Files.createDirectories(dir.resolve("restricted"));
        try (PluginFramework guarded = PluginFramework.start(new PluginFramework.Config(restricted, dir.resolve("cache2"),
                Duration.ofMillis(50), PluginAllowList.read(allowList)))) {
            TestBundles.drop(restricted, "reviewed.jar", listed);
            TestBundles.drop(restricted, "altered.jar", altered);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (guarded.registry().plugins().stream().anyMatch(p -> p.state() == PluginInfo.State.STARTING)
                    && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }

            Map<String, PluginInfo> byFile = new java.util.HashMap<>();
            guarded.registry().plugins().forEach(p -> byFile.put(p.file(), p));
            assertEquals(PluginInfo.State.ACTIVE, byFile.get("reviewed.jar").state(), byFile.toString());
            assertEquals(PluginInfo.State.REFUSED, byFile.get("altered.jar").state());
            assertTrue(byFile.get("altered.jar").problem().startsWith("not on the plugin allow-list: test.versioned with SHA-256 "),
                    byFile.get("altered.jar").problem());
            assertEquals(Optional.of("1.0.0"), guarded.registry().descriptor(ID).map(d -> d.version()),
                    "the altered jar's newer version is never offered");
        }
        assertEquals("plugin allow-list not found: " + dir.resolve("missing.txt"), assertThrows(
                io.modelrefinery.api.InvalidInputException.class,
                () -> PluginAllowList.read(dir.resolve("missing.txt"))).getMessage());
        Path bad = Files.writeString(dir.resolve("bad.txt"), "test.versioned not-a-digest\n");
        assertEquals(bad + " line 1: expected SYMBOLIC-NAME SHA256, found 'test.versioned not-a-digest'", assertThrows(
                io.modelrefinery.api.InvalidInputException.class, () -> PluginAllowList.read(bad)).getMessage());
    }

    @Test
    void unresolvableAndInvalidJarsAreReportedAndTheHostKeepsServing() throws Exception {
        TestBundles.drop(plugins, "versioned.jar", TestBundles.versioned("1.0.0", Map.of()));
        byte[] missingImport = TestBundles.versioned("3.0.0", Map.of(
                "Bundle-SymbolicName", "test.missing",
                "Import-Package", "com.example.absent;version=\"[1.2,2)\",*"));
        TestBundles.drop(plugins, "missing.jar", missingImport);
        TestBundles.drop(plugins, "garbage.jar", "not a jar".getBytes());

        assertEquals(List.of(), registry().awaitSettled(Duration.ofSeconds(20)));
        Map<String, PluginInfo> byFile = new java.util.HashMap<>();
        registry().plugins().forEach(p -> byFile.put(p.file(), p));

        assertEquals(PluginInfo.State.UNRESOLVED, byFile.get("missing.jar").state());
        assertEquals("missing import com.example.absent [1.2.0,2.0.0)", byFile.get("missing.jar").problem());
        assertEquals(PluginInfo.State.INVALID, byFile.get("garbage.jar").state());
        assertTrue(byFile.get("garbage.jar").problem().startsWith("not a readable jar"), byFile.get("garbage.jar").problem());
        assertEquals(PluginInfo.State.ACTIVE, byFile.get("versioned.jar").state());
        assertEquals(List.of(ID), byFile.get("versioned.jar").transforms().stream().map(d -> d.id()).toList());
        assertEquals("1.0.0", runJob(ID));
    }

    @Test
    void filesBeingCopiedAreNeverInstalled() throws Exception {
        byte[] jar = TestBundles.versioned("1.0.0", Map.of());
        Files.write(plugins.resolve(".versioned.jar.part"), jar);
        Files.write(plugins.resolve("versioned.jar.tmp"), jar);

        Thread.sleep(500); // ten polls
        assertTrue(registry().offers().isEmpty());
        assertTrue(registry().plugins().isEmpty());

        Files.move(plugins.resolve(".versioned.jar.part"), plugins.resolve("versioned.jar"));
        await("the renamed jar is installed", () -> offeredVersion().isPresent());
    }
}
