/**
 * The events the refinery reads and writes (CloudEvents 1.0, see docs/events.md): the data records of
 * {@code model.registered}, {@code model.optimized} and {@code model.failed}, and the registry extension
 * points: {@link io.modelrefinery.api.event.ArtifactResolver} finds a registered model's file,
 * {@link io.modelrefinery.api.event.RegistryWriter} registers an optimized model back, both through the
 * host's {@link io.modelrefinery.api.event.RegistryContext} (1.2); an evaluation's paired latency
 * comparison, {@link io.modelrefinery.api.event.LatencyEstimate} (1.3); a model's opset in its
 * {@link io.modelrefinery.api.event.ArtifactSummary} (1.4).
 */
@Export
@Version("1.4.0")
package io.modelrefinery.api.event;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
