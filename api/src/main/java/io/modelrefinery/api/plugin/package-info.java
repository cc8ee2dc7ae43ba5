/**
 * The plugin SPI: implement {@link io.modelrefinery.api.plugin.ModelTransform}, describe it with a
 * {@link io.modelrefinery.api.plugin.TransformDescriptor} and typed
 * {@link io.modelrefinery.api.plugin.ParamSpec}s, and register it as a Declarative Services component.
 */
@Export
@Version("1.7.0")
package io.modelrefinery.api.plugin;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
