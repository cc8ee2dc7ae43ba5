package io.modelrefinery.plugin.mlflow;

import io.modelrefinery.api.event.RegistryContext;
import io.modelrefinery.testkit.RegistryHarness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/** What the plugin's tests share: the MLflow model fixture and the host's real registry context, through the test kit. */
final class MlflowFixtures {
    private MlflowFixtures() {
    }

    /** The sample CNN as {@code mlflow.onnx.save_model} lays it out (src/test/fixtures/make_mlflow_onnx_model.py). */
    static Map<String, byte[]> onnxModelFiles() {
        Path dir = Path.of("src/test/fixtures/mlflow-onnx-model");
        Map<String, byte[]> files = new TreeMap<>();
        try (Stream<Path> list = Files.list(dir)) {
            for (Path f : list.toList()) {
                files.put(f.getFileName().toString(), Files.readAllBytes(f));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return files;
    }

    /** The name of the fixture's external data file (a UUID, as onnx.save_model names it). */
    static String externalDataName() {
        return onnxModelFiles().keySet().stream().filter(n -> n.matches("[0-9a-f-]{36}")).findFirst().orElseThrow();
    }

    /** The host's registry context (through the test kit) for {@code settings}; see {@link RegistryHarness#context}. */
    static RegistryContext context(RegistryHarness settings, Path work, boolean allowPrivate) {
        return settings.context(work, allowPrivate);
    }

    static RegistryHarness tracking(MlflowTestServer server) {
        return RegistryHarness.none().with("MLFLOW_TRACKING_URI", server.uri().toString());
    }
}
