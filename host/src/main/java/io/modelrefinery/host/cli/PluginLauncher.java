package io.modelrefinery.host.cli;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.host.osgi.PluginFramework;
import io.modelrefinery.host.osgi.PluginInfo;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/** Starts the plugin framework for a one-shot command and waits until the plugins folder is loaded. */
final class PluginLauncher {
    /** One-shot commands poll often: they wait for the first scan before they can do anything. */
    private static final Duration POLL = Duration.ofMillis(100);
    private static final Duration SETTLE_TIMEOUT = Duration.ofSeconds(30);

    private PluginLauncher() {
    }

    /**
     * Starts the framework on {@code pluginsDir} (the default folder when {@code null}), with its cache
     * under {@code work}, and reports unusable plugins on {@code err}.
     */
    static PluginFramework start(Path pluginsDir, Path work, PrintWriter err) throws IOException, InterruptedException {
        Path dir = pluginsDir != null ? pluginsDir : HostPaths.defaultPluginsDir();
        if (!Files.isDirectory(dir)) {
            throw new InvalidInputException("plugins folder not found: " + dir + " (set --plugins-dir or "
                    + HostPaths.PLUGINS_DIR_ENV + ")");
        }
        PluginFramework framework = PluginFramework.start(new PluginFramework.Config(dir, work.resolve("felix"), POLL));
        try {
            framework.registry().awaitSettled(SETTLE_TIMEOUT);
            for (PluginInfo plugin : framework.registry().plugins()) {
                if (plugin.state() != PluginInfo.State.ACTIVE) {
                    err.println("warning: plugin " + plugin.file() + " is not usable: " + plugin.problem());
                }
            }
            return framework;
        } catch (InterruptedException | RuntimeException e) {
            framework.close();
            throw e;
        }
    }
}
