package io.modelrefinery.host.osgi;

import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.host.pipeline.JobEnvironment;
import io.modelrefinery.host.pipeline.JobListener;
import io.modelrefinery.host.pipeline.PipelinePlan;
import io.modelrefinery.host.pipeline.PipelineResult;
import io.modelrefinery.host.pipeline.PipelineRunner;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.jar.JarInputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A plugin compiled against api.plugin 1.4, before 1.5's additions (typed parameters, roles, recipes, data
 * by role), loads in this host and runs: minor versions only add.
 */
class OlderApiPluginTest {
    private static final String JAR = "round-weights-built-for-api-1.4.jar";

    @TempDir
    Path dir;

    @Test
    void aPluginBuiltForApi14LoadsAndRunsWithItsOwnParameters() throws Exception {
        Path plugins = Files.createDirectories(dir.resolve("plugins"));
        try (InputStream in = getClass().getResourceAsStream(JAR)) {
            byte[] bytes = in.readAllBytes();
            String imports = new JarInputStream(new java.io.ByteArrayInputStream(bytes)).getManifest()
                    .getMainAttributes().getValue("Import-Package");
            assertTrue(imports.contains("io.modelrefinery.api.plugin;version=\"[1.4,2)\""), imports);
            Files.write(plugins.resolve("round-weights.jar"), bytes);
        }
        try (PluginFramework framework = PluginFramework.start(new PluginFramework.Config(plugins, dir.resolve("cache"),
                Duration.ofMillis(50)))) {
            assertEquals(List.of(), framework.registry().awaitSettled(Duration.ofSeconds(20)));
            TransformDescriptor descriptor = framework.registry().descriptor("round-weights").orElseThrow();
            assertEquals("1.0.0", descriptor.version());
            assertTrue(descriptor.param("exclude").isPresent(), "its parameters as it declared them");
            assertEquals(List.of(), descriptor.recipes(), "a 1.4 descriptor declares no recipes");

            OnnxModel model = TestModels.sampleCnn();
            JobEnvironment environment = new JobEnvironment("job-older-api",
                    new OrtRuntime().service(Device.CPU, dir.resolve("ort")), JobData.none(), dir.resolve("jobs"),
                    Cancellation.never());
            try (PipelinePlan plan = PipelinePlan.create(PipelineSpec.parse("round-weights(bits=6,exclude=[c1.bias])"),
                    ModelFormat.ONNX, framework.registry())) {
                PipelineResult result = new PipelineRunner().run(plan, ModelArtifact.onnx(model), environment,
                        JobListener.none());
                OnnxModel out = result.output().onnxModel();
                assertEquals(6, ((Number) result.steps().get(0).params().get("bits")).intValue());
                assertArrayEquals(model.initializer("c1.bias").orElseThrow().toFloatArray(),
                        out.initializer("c1.bias").orElseThrow().toFloatArray(), "excluded as it was told");
                for (TensorProto init : out.graph().getInitializerList()) {
                    if (!init.getName().equals("c1.bias")) {
                        for (float v : out.tensor(init).toFloatArray()) {
                            assertEquals(0, Float.floatToRawIntBits(v) & ((1 << 18) - 1), init.getName() + " keeps 6 bits");
                        }
                    }
                }
            }
        }
    }
}
