package io.modelrefinery.host.osgi;

import org.apache.felix.framework.Felix;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleException;
import org.osgi.framework.Constants;
import org.osgi.framework.hooks.resolver.ResolverHook;
import org.osgi.framework.hooks.resolver.ResolverHookFactory;
import org.osgi.framework.wiring.BundleCapability;
import org.osgi.framework.wiring.BundleRequirement;
import org.osgi.framework.wiring.BundleRevision;
import org.osgi.framework.launch.Framework;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.bridge.SLF4JBridgeHandler;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The embedded OSGi framework (Apache Felix) with Declarative Services (Felix SCR) and Felix FileInstall
 * watching the plugins folder. Plugin jars dropped into the folder are installed and started, replaced
 * jars are updated, deleted jars uninstalled; the {@link PluginRegistry} follows the transforms they
 * register.
 *
 * <p>FileInstall installs a jar once its size and time stamp are the same on two polls in a row, and
 * only files matching {@link #PLUGIN_FILE_PATTERN}: copy a plugin under a temporary name (a leading dot
 * or another extension) and rename it into place, so that a half-copied jar is never installed.
 */
public final class PluginFramework implements AutoCloseable {
    /** Files FileInstall picks up: {@code .jar} files whose name does not start with a dot. */
    public static final String PLUGIN_FILE_PATTERN = "^[^.].*\\.jar$";

    private static final Logger LOG = LoggerFactory.getLogger(PluginFramework.class);
    /** The framework's own bundles, embedded in the host jar, in installation order. */
    private static final List<String> FRAMEWORK_BUNDLES = List.of(
            "org.osgi.util.function.jar", "org.osgi.util.promise.jar", "org.osgi.service.component.jar",
            "org.apache.felix.scr.jar", "org.apache.felix.fileinstall.jar");

    private final Framework framework;
    private final PluginRegistry registry;
    private final Path pluginsDir;

    /**
     * Where plugins come from and where the framework keeps its state.
     *
     * @param pluginsDir the folder FileInstall watches; created if missing
     * @param cacheDir the framework's storage, emptied at start
     * @param pollInterval how often FileInstall looks at the folder
     * @param allowList which plugin jars may load
     */
    public record Config(Path pluginsDir, Path cacheDir, Duration pollInterval, PluginAllowList allowList) {
        public Config {
            Objects.requireNonNull(pluginsDir, "pluginsDir");
            Objects.requireNonNull(cacheDir, "cacheDir");
            Objects.requireNonNull(pollInterval, "pollInterval");
            Objects.requireNonNull(allowList, "allowList");
        }

        /** Every plugin jar in the folder may load. */
        public Config(Path pluginsDir, Path cacheDir, Duration pollInterval) {
            this(pluginsDir, cacheDir, pollInterval, PluginAllowList.all());
        }
    }

    private PluginFramework(Framework framework, PluginRegistry registry, Path pluginsDir) {
        this.framework = framework;
        this.registry = registry;
        this.pluginsDir = pluginsDir;
    }

    /**
     * Starts the framework and begins watching the plugins folder. Returns once the framework runs;
     * plugins already in the folder are installed by FileInstall shortly after (see
     * {@link PluginRegistry#awaitSettled}).
     */
    public static PluginFramework start(Config config) throws IOException {
        routeJulToSlf4j();
        Path pluginsDir = config.pluginsDir().toAbsolutePath().normalize();
        Files.createDirectories(pluginsDir);
        Files.createDirectories(config.cacheDir());
        Map<String, Object> props = new HashMap<>();
        props.put(Constants.FRAMEWORK_STORAGE, config.cacheDir().toAbsolutePath().toString());
        props.put(Constants.FRAMEWORK_STORAGE_CLEAN, Constants.FRAMEWORK_STORAGE_CLEAN_ONFIRSTINIT);
        props.put(Constants.FRAMEWORK_SYSTEMPACKAGES_EXTRA, HostExports.systemPackagesExtra());
        props.put("felix.log.logger", new FelixLogBridge());
        props.put("felix.log.level", FelixLogBridge.felixLevel());
        props.put("ds.loglevel", "warn");
        props.put("felix.fileinstall.dir", pluginsDir.toString());
        props.put("felix.fileinstall.poll", Long.toString(config.pollInterval().toMillis()));
        props.put("felix.fileinstall.noInitialDelay", "true");
        props.put("felix.fileinstall.filter", PLUGIN_FILE_PATTERN);
        props.put("felix.fileinstall.bundles.new.start", "true");
        props.put("felix.fileinstall.bundles.startTransient", "true");
        props.put("felix.fileinstall.log.default", "jul");
        props.put("felix.fileinstall.log.level", "4");
        props.put("felix.fileinstall.enableConfigSave", "false");
        props.put("felix.fileinstall.tmpdir", config.cacheDir().resolve("fileinstall").toString());

        Framework framework = new Felix(props);
        try {
            framework.init();
            BundleContext context = framework.getBundleContext();
            Bundle fileInstall = null;
            for (String name : FRAMEWORK_BUNDLES) {
                Bundle bundle = installEmbedded(context, name);
                if (name.startsWith("org.apache.felix.fileinstall")) {
                    fileInstall = bundle;
                } else {
                    bundle.start();
                }
            }
            if (config.allowList().restricts()) {
                // A refused bundle stays installed, but none of its requirements (package imports, the
                // component extender) can be met, so it never resolves and none of its code runs. Failing it
                // this way, rather than dropping it from the resolvable set, leaves other bundles resolving
                // in the same round untouched.
                ResolverHook hook = new ResolverHook() {
                    @Override
                    public void filterResolvable(Collection<BundleRevision> candidates) {
                    }

                    @Override
                    public void filterSingletonCollisions(BundleCapability singleton,
                                                          Collection<BundleCapability> collisionCandidates) {
                    }

                    @Override
                    public void filterMatches(BundleRequirement requirement, Collection<BundleCapability> candidates) {
                        if (config.allowList().refusal(requirement.getRevision().getBundle()).isPresent()) {
                            candidates.clear();
                        }
                    }

                    @Override
                    public void end() {
                    }
                };
                context.registerService(ResolverHookFactory.class, triggers -> hook, null);
            }
            PluginRegistry registry = new PluginRegistry(context, pluginsDir, config.allowList());
            registry.open();
            framework.start();
            // FileInstall last: by now the registry tracks services, so no plugin goes unseen.
            Objects.requireNonNull(fileInstall).start();
            LOG.info("plugin framework started, watching {}", pluginsDir);
            return new PluginFramework(framework, registry, pluginsDir);
        } catch (BundleException | RuntimeException e) {
            stopQuietly(framework);
            throw new IllegalStateException("cannot start the plugin framework: " + e.getMessage(), e);
        }
    }

    private static Bundle installEmbedded(BundleContext context, String name) throws BundleException {
        InputStream in = PluginFramework.class.getResourceAsStream("bundles/" + name);
        if (in == null) {
            throw new IllegalStateException("framework bundle " + name + " is missing from the host jar");
        }
        return context.installBundle("refinery:framework/" + name, in);
    }

    /** FileInstall logs through java.util.logging when told to; send that to SLF4J too. */
    private static synchronized void routeJulToSlf4j() {
        if (!SLF4JBridgeHandler.isInstalled()) {
            SLF4JBridgeHandler.removeHandlersForRootLogger();
            SLF4JBridgeHandler.install();
        }
    }

    public PluginRegistry registry() {
        return registry;
    }

    public Path pluginsDir() {
        return pluginsDir;
    }

    /** Stops every plugin and the framework, waiting up to 30 seconds. */
    @Override
    public void close() {
        registry.close();
        stopQuietly(framework);
    }

    private static void stopQuietly(Framework framework) {
        try {
            framework.stop();
            framework.waitForStop(Duration.ofSeconds(30).toMillis());
        } catch (BundleException e) {
            LOG.warn("plugin framework did not stop cleanly: {}", e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
