package io.modelrefinery.host.osgi;

import io.modelrefinery.api.plugin.TransformDescriptor;

import java.util.List;

/**
 * A jar in the plugins folder and what became of it.
 *
 * @param file the jar's file name
 * @param symbolicName the bundle's symbolic name, or {@code null} if the jar is not a bundle
 * @param bundleVersion the bundle's version, or {@code null}
 * @param state what the framework made of it
 * @param transforms the transforms it registers (only when active)
 * @param problem why it is not active, one line; {@code null} when active
 */
public record PluginInfo(String file, String symbolicName, String bundleVersion, State state,
                         List<TransformDescriptor> transforms, String problem) {

    /** Where a plugin jar stands. */
    public enum State {
        /** Started; its transforms are usable. */
        ACTIVE,
        /** Installed but cannot resolve: an import is missing or of an incompatible version. */
        UNRESOLVED,
        /** Resolved but not started, or started without registering its transforms yet. */
        STARTING,
        /** Not a usable bundle at all: not a jar, or no bundle headers. */
        INVALID,
        /** Started, but its transform could not be used: its component failed to activate or its descriptor threw. */
        FAILED,
        /** A bundle that the configured plugin allow-list does not name with this jar's digest: never resolved. */
        REFUSED
    }

    public PluginInfo {
        transforms = List.copyOf(transforms);
    }
}
