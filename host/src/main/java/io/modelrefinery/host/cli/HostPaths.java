package io.modelrefinery.host.cli;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Default locations: the plugins folder sits next to {@code refinery.jar}. */
final class HostPaths {
    static final String PLUGINS_DIR_ENV = "REFINERY_PLUGINS_DIR";

    private HostPaths() {
    }

    /** {@code $REFINERY_PLUGINS_DIR}, else {@code plugins/} next to the running jar, else {@code ./plugins}. */
    static Path defaultPluginsDir() {
        String fromEnv = System.getenv(PLUGINS_DIR_ENV);
        if (fromEnv != null && !fromEnv.isBlank()) {
            return Path.of(fromEnv);
        }
        try {
            Path code = Path.of(Main.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            if (Files.isRegularFile(code)) {
                return code.getParent().resolve("plugins");
            }
        } catch (URISyntaxException | SecurityException | NullPointerException e) {
            // fall through to the working directory
        }
        return Path.of("plugins");
    }
}
