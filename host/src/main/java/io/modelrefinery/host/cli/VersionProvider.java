package io.modelrefinery.host.cli;

import picocli.CommandLine.IVersionProvider;

/** The version from the jar's manifest, when run from a jar. */
final class VersionProvider implements IVersionProvider {
    @Override
    public String[] getVersion() {
        String version = Main.class.getPackage().getImplementationVersion();
        return new String[] {"refinery " + (version == null ? "(development build)" : version)};
    }
}
