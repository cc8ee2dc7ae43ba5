package io.modelrefinery.plugin.mlflow;

import io.modelrefinery.api.event.RegistryContext;
import io.modelrefinery.host.artifact.ArtifactFetcher;
import io.modelrefinery.host.artifact.ArtifactPolicy;
import io.modelrefinery.host.artifact.PolicyRegistryHttp;
import io.modelrefinery.host.service.Registries;
import io.modelrefinery.host.service.RegistrySettings;
import io.modelrefinery.host.testing.TestModels;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/** What the plugin's tests share: the MLflow model fixture and the host's real registry context. */
final class MlflowFixtures {
    private MlflowFixtures() {
    }

    /** The sample CNN as {@code mlflow.onnx.save_model} lays it out (src/test/fixtures/make_mlflow_onnx_model.py). */
    static Map<String, byte[]> onnxModelFiles() {
        Path dir = TestModels.root().resolve("plugins/mlflow/src/test/fixtures/mlflow-onnx-model");
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

    /**
     * The host's registry context for a tracking server at 127.0.0.1: the host's artifact policy with
     * 127.0.0.1 named as a private host, as {@code serve --allow-private-host 127.0.0.1} would.
     */
    static RegistryContext context(RegistrySettings settings, Path work, boolean allowPrivate) {
        // Without the private-host allowance the host is still allowed: only its address is refused.
        ArtifactPolicy policy = new ArtifactPolicy(List.of(), Set.of("127.0.0.1"), 64L << 20, Duration.ofSeconds(5),
                Duration.ofSeconds(30), false, allowPrivate ? Set.of("127.0.0.1") : Set.of());
        return new Registries(List::of, List::of, settings, new PolicyRegistryHttp(new ArtifactFetcher(policy)),
                Registries.WriteBack.off()).context(work);
    }

    static RegistrySettings tracking(MlflowTestServer server) {
        return RegistrySettings.none().with("MLFLOW_TRACKING_URI", server.uri().toString());
    }
}
