/**
 * The events the refinery reads and writes (CloudEvents 1.0, see docs/events.md): the data records of
 * {@code model.registered}, {@code model.optimized} and {@code model.failed}, and the
 * {@link io.modelrefinery.api.event.ArtifactResolver} extension point.
 */
@Export
@Version("1.1.0")
package io.modelrefinery.api.event;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
