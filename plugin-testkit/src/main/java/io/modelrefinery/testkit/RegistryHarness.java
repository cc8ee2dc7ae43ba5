package io.modelrefinery.testkit;

import io.modelrefinery.api.event.RegistryContext;
import io.modelrefinery.host.artifact.ArtifactFetcher;
import io.modelrefinery.host.artifact.ArtifactPolicy;
import io.modelrefinery.host.artifact.PolicyRegistryHttp;
import io.modelrefinery.host.service.Registries;
import io.modelrefinery.host.service.RegistrySettings;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;

/**
 * The host's real {@link RegistryContext} for a registry plugin's tests: its settings (environment-style
 * names such as {@code MLFLOW_TRACKING_URI}) and its HTTP client under the host's artifact policy, pointed at
 * a test server on the loopback address. Immutable; {@link #with} returns new settings.
 *
 * <pre>{@code
 * RegistryContext context = RegistryHarness.none().with("MLFLOW_TRACKING_URI", server.uri().toString())
 *         .context(tempDir, true);
 * }</pre>
 */
public final class RegistryHarness {
    private static final String LOOPBACK = "127.0.0.1";

    private final RegistrySettings settings;

    private RegistryHarness(RegistrySettings settings) {
        this.settings = settings;
    }

    /** No settings. */
    public static RegistryHarness none() {
        return new RegistryHarness(RegistrySettings.none());
    }

    /** These settings and {@code name}; a blank value leaves {@code name} unset, as in the host. */
    public RegistryHarness with(String name, String value) {
        return new RegistryHarness(settings.with(name, value));
    }

    /**
     * A context whose downloads go under {@code work}. The policy is the host's with {@code 127.0.0.1} as
     * the only allowed host; {@code allowLoopback} grants it as {@code serve --allow-private-host 127.0.0.1}
     * would, and without it the host is allowed but its address is refused, as for any private address.
     */
    public RegistryContext context(Path work, boolean allowLoopback) {
        ArtifactPolicy policy = new ArtifactPolicy(List.of(), Set.of(LOOPBACK), 64L << 20, Duration.ofSeconds(5),
                Duration.ofSeconds(30), false, allowLoopback ? Set.of(LOOPBACK) : Set.of());
        return new Registries(List::of, List::of, settings, new PolicyRegistryHttp(new ArtifactFetcher(policy)),
                Registries.WriteBack.off()).context(work);
    }
}
