package io.modelrefinery.host.osgi;

import io.modelrefinery.api.event.ArtifactResolver;
import io.modelrefinery.api.event.RegistryWriter;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.host.pipeline.TransformCatalog;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.wiring.BundleWiring;
import org.osgi.util.tracker.ServiceTracker;
import org.osgi.util.tracker.ServiceTrackerCustomizer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.jar.JarFile;
import java.util.jar.Manifest;
import java.util.stream.Stream;

/**
 * The transforms and artifact resolvers plugins offer right now, followed dynamically as their bundles
 * come and go (the host's side of a dynamic, multiple reference to {@link ModelTransform} and
 * {@link ArtifactResolver}). When several plugins offer the same transform id, the highest descriptor
 * version wins.
 */
public final class PluginRegistry implements TransformCatalog, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PluginRegistry.class);

    private final BundleContext context;
    private final Path pluginsDir;
    private final ServiceTracker<ModelTransform, Tracked> tracker;
    private final ServiceTracker<ArtifactResolver, ArtifactResolver> resolvers;
    private final ServiceTracker<RegistryWriter, RegistryWriter> writers;
    /** Bundle revisions whose classes are all loaded already (see {@link #loadAllClasses}); weak, so that
     *  replaced revisions can be collected. */
    private final Set<Object> loadedRevisions = Collections.synchronizedSet(Collections.newSetFromMap(new WeakHashMap<>()));

    /** A transform service and its descriptor, read once when the service appeared. */
    private record Tracked(ServiceReference<ModelTransform> reference, TransformDescriptor descriptor) {
    }

    /**
     * A transform on offer.
     *
     * @param descriptor what it is
     * @param bundle symbolic name and version of the bundle offering it
     */
    public record Offer(TransformDescriptor descriptor, String bundle) {
    }

    private final PluginAllowList allowList;
    private final ApiCompatibility api = ApiCompatibility.host();
    /** Why a bundle revision's transform could not be used, by {@link #revisionKey}: shown as state failed. */
    private final Map<String, String> failures = new java.util.concurrent.ConcurrentHashMap<>();

    PluginRegistry(BundleContext context, Path pluginsDir, PluginAllowList allowList) {
        this.allowList = allowList;
        this.context = context;
        this.pluginsDir = pluginsDir;
        this.tracker = new ServiceTracker<>(context, ModelTransform.class, new Customizer());
        this.resolvers = new ServiceTracker<>(context, ArtifactResolver.class, null);
        this.writers = new ServiceTracker<>(context, RegistryWriter.class, null);
    }

    void open() {
        tracker.open();
        resolvers.open();
        writers.open();
    }

    @Override
    public void close() {
        writers.close();
        resolvers.close();
        tracker.close();
    }

    /** The artifact resolvers plugins offer now, highest service ranking first. */
    public List<ArtifactResolver> resolvers() {
        return ranked(resolvers);
    }

    /** The registry writers plugins offer now, highest service ranking first. */
    public List<RegistryWriter> writers() {
        return ranked(writers);
    }

    private static <S> List<S> ranked(ServiceTracker<S, S> services) {
        List<S> out = new ArrayList<>();
        ServiceReference<S>[] refs = services.getServiceReferences();
        if (refs == null) {
            return out;
        }
        java.util.Arrays.sort(refs, Collections.reverseOrder());
        for (ServiceReference<S> ref : refs) {
            S service = services.getService(ref);
            if (service != null) {
                out.add(service);
            }
        }
        return out;
    }

    /** Every transform on offer, by id then version, newest first. */
    public List<Offer> offers() {
        List<Offer> offers = new ArrayList<>();
        for (Tracked t : tracked()) {
            Bundle b = t.reference().getBundle();
            offers.add(new Offer(t.descriptor(), b == null ? "(removed)" : b.getSymbolicName() + " " + b.getVersion()));
        }
        offers.sort(Comparator.comparing((Offer o) -> o.descriptor().id())
                .thenComparing((a, b) -> TransformDescriptor.compareVersions(b.descriptor().version(),
                        a.descriptor().version())));
        return offers;
    }

    /** The ids of every transform on offer, sorted. */
    @Override
    public List<String> transformIds() {
        return offers().stream().map(o -> o.descriptor().id()).distinct().toList();
    }

    /** The newest descriptor of each transform id on offer, sorted by id. */
    @Override
    public List<TransformDescriptor> descriptors() {
        List<TransformDescriptor> newest = new ArrayList<>();
        for (Offer offer : offers()) { // newest first within each id
            if (newest.isEmpty() || !newest.get(newest.size() - 1).id().equals(offer.descriptor().id())) {
                newest.add(offer.descriptor());
            }
        }
        return newest;
    }

    /** The descriptor of the newest transform with {@code id}. */
    public Optional<TransformDescriptor> descriptor(String id) {
        return newest(id).map(Tracked::descriptor);
    }

    /**
     * Takes the newest transform with {@code id} for one job. The job keeps this instance until it
     * closes the lease, whatever happens to the plugin meanwhile.
     */
    @Override
    public Optional<TransformLease> lease(String id) {
        for (int attempt = 0; attempt < 3; attempt++) {
            Optional<Tracked> candidate = newest(id);
            if (candidate.isEmpty()) {
                return Optional.empty();
            }
            ServiceReference<ModelTransform> ref = candidate.get().reference();
            ModelTransform service = context.getService(ref);
            if (service != null) {
                return Optional.of(new TransformLease(context, ref, service, candidate.get().descriptor()));
            }
            // the service went away between lookup and get: look again
        }
        return Optional.empty();
    }

    private Optional<Tracked> newest(String id) {
        return tracked().stream()
                .filter(t -> t.descriptor().id().equals(id))
                .max((a, b) -> TransformDescriptor.compareVersions(a.descriptor().version(), b.descriptor().version()));
    }

    private List<Tracked> tracked() {
        Map<ServiceReference<ModelTransform>, Tracked> all = tracker.getTracked();
        return new ArrayList<>(all.values());
    }

    /** Every jar in the plugins folder with its state, sorted by file name. */
    public List<PluginInfo> plugins() {
        List<PluginInfo> out = new ArrayList<>();
        for (Path jar : pluginJars()) {
            out.add(describe(jar));
        }
        return out;
    }

    private PluginInfo describe(Path jar) {
        String file = jar.getFileName().toString();
        Bundle bundle = bundleFor(jar);
        if (bundle == null) {
            String problem = bundleHeaderProblem(jar);
            return new PluginInfo(file, null, null, problem == null ? PluginInfo.State.STARTING : PluginInfo.State.INVALID,
                    List.of(), problem == null ? "not installed yet" : problem);
        }
        String name = bundle.getSymbolicName();
        String version = bundle.getVersion().toString();
        if (bundle.getState() == Bundle.INSTALLED) {
            Optional<String> refusal = allowList.refusal(bundle);
            if (refusal.isPresent()) {
                return new PluginInfo(file, name, version, PluginInfo.State.REFUSED, List.of(), refusal.get());
            }
            List<String> missing = BundleDiagnostics.missingImports(context, bundle);
            String problem = missing.isEmpty() ? "not resolved yet" : api.problem(bundle.getHeaders().get("Import-Package"))
                    .orElse("missing import " + String.join(", ", missing));
            return new PluginInfo(file, name, version,
                    missing.isEmpty() ? PluginInfo.State.STARTING : PluginInfo.State.UNRESOLVED, List.of(), problem);
        }
        List<TransformDescriptor> transforms = new ArrayList<>();
        for (Tracked t : tracked()) {
            if (bundle.equals(t.reference().getBundle())) {
                transforms.add(t.descriptor());
            }
        }
        boolean active = bundle.getState() == Bundle.ACTIVE && componentsReady(bundle, transforms.size());
        String failure = failures.get(revisionKey(bundle));
        if (!active && failure != null && bundle.getState() == Bundle.ACTIVE) {
            return new PluginInfo(file, name, version, PluginInfo.State.FAILED, transforms, failure);
        }
        return new PluginInfo(file, name, version, active ? PluginInfo.State.ACTIVE : PluginInfo.State.STARTING,
                transforms, active ? null : "bundle is " + stateName(bundle.getState()));
    }

    /**
     * Whether every Declarative Services component of an active bundle has registered its service
     * (transforms, resolvers, registry writers alike) and every transform among them is tracked: a bundle
     * that offers only a resolver is as usable as one with transforms, and one whose transform is on its
     * way is not yet.
     */
    private static boolean componentsReady(Bundle bundle, int trackedTransforms) {
        String header = bundle.getHeaders().get("Service-Component");
        if (header == null) {
            return true;
        }
        int components = header.contains("*") ? 1 : header.split(",").length;
        ServiceReference<?>[] registered = bundle.getRegisteredServices();
        if (registered == null || registered.length < components) {
            return false;
        }
        int transforms = 0;
        for (ServiceReference<?> ref : registered) {
            Object classes = ref.getProperty(org.osgi.framework.Constants.OBJECTCLASS);
            if (classes instanceof String[] names && java.util.Arrays.asList(names).contains(ModelTransform.class.getName())) {
                transforms++;
            }
        }
        return trackedTransforms >= transforms;
    }

    /**
     * Waits until FileInstall has dealt with every jar in the plugins folder: each is active, or
     * unresolvable, or not a bundle at all. Used by one-shot commands that need the plugins at once.
     *
     * @return the jars still pending when the time ran out (empty when all settled)
     */
    public List<PluginInfo> awaitSettled(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            List<PluginInfo> pending = plugins().stream()
                    .filter(p -> p.state() == PluginInfo.State.STARTING).toList();
            if (pending.isEmpty() || System.nanoTime() > deadline) {
                return pending;
            }
            Thread.sleep(25);
        }
    }

    private List<Path> pluginJars() {
        if (!Files.isDirectory(pluginsDir)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(pluginsDir)) {
            return files.filter(p -> p.getFileName().toString().matches(PluginFramework.PLUGIN_FILE_PATTERN))
                    .filter(Files::isRegularFile)
                    .sorted()
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list plugins folder " + pluginsDir, e);
        }
    }

    /** The folder FileInstall watches. */
    Path pluginsDir() {
        return pluginsDir;
    }

    ApiCompatibility api() {
        return api;
    }

    PluginAllowList allowList() {
        return allowList;
    }

    /** One installed content of a bundle: an update gives the same bundle a new key. */
    private static String revisionKey(Bundle bundle) {
        return bundle.getBundleId() + "@" + bundle.getLastModified();
    }

    /** The bundle FileInstall installed from {@code jar}: its location is the jar's normalized file URI. */
    Bundle bundleFor(Path jar) {
        String location = jar.toFile().toURI().normalize().toString();
        for (Bundle b : context.getBundles()) {
            if (location.equals(b.getLocation())) {
                return b;
            }
        }
        return null;
    }

    /** Why a jar cannot be a bundle, or {@code null} if its headers look fine. */
    private static String bundleHeaderProblem(Path jar) {
        try (JarFile file = new JarFile(jar.toFile())) {
            Manifest manifest = file.getManifest();
            if (manifest == null || manifest.getMainAttributes().getValue("Bundle-SymbolicName") == null) {
                return "not an OSGi bundle: no Bundle-SymbolicName in its manifest";
            }
            return null;
        } catch (IOException e) {
            return "not a readable jar: " + e.getMessage();
        }
    }

    private static String stateName(int state) {
        switch (state) {
            case Bundle.RESOLVED: return "resolved but not started";
            case Bundle.STARTING: return "starting";
            case Bundle.STOPPING: return "stopping";
            case Bundle.ACTIVE: return "active without transforms registered yet";
            default: return "in state " + state;
        }
    }

    /**
     * Loads every class of a plugin bundle when its first transform appears. Felix disposes a bundle's
     * class loader when the bundle is updated or removed; with every class already loaded, a job that
     * holds the old transform still finishes on the version it started with.
     */
    private void loadAllClasses(Bundle bundle) {
        BundleWiring wiring = bundle.adapt(BundleWiring.class);
        if (wiring == null || !loadedRevisions.add(wiring.getRevision())) {
            return;
        }
        int loaded = 0;
        for (String resource : wiring.listResources("/", "*.class",
                BundleWiring.LISTRESOURCES_RECURSE | BundleWiring.LISTRESOURCES_LOCAL)) {
            String className = resource.substring(0, resource.length() - ".class".length()).replace('/', '.');
            if (className.endsWith("package-info") || className.endsWith("module-info")) {
                continue;
            }
            try {
                bundle.loadClass(className);
                loaded++;
            } catch (ClassNotFoundException | LinkageError e) {
                LOG.debug("{}: class {} not loadable up front: {}", bundle.getSymbolicName(), className, e.toString());
            }
        }
        LOG.debug("{}: loaded {} classes", bundle.getSymbolicName(), loaded);
    }

    private final class Customizer implements ServiceTrackerCustomizer<ModelTransform, Tracked> {
        @Override
        public Tracked addingService(ServiceReference<ModelTransform> reference) {
            Bundle bundle = reference.getBundle();
            ModelTransform service = context.getService(reference);
            if (service == null) {
                if (bundle != null && bundle.getState() == Bundle.ACTIVE) {
                    // Declarative Services hands out nothing when the component's constructor or activation threw.
                    failures.put(revisionKey(bundle), "its transform component failed to activate (the log has the cause)");
                }
                return null;
            }
            try {
                loadAllClasses(bundle);
                TransformDescriptor descriptor = service.descriptor();
                LOG.info("transform {} {} available from {} {}", descriptor.id(), descriptor.version(),
                        bundle.getSymbolicName(), bundle.getVersion());
                return new Tracked(reference, descriptor);
            } catch (RuntimeException | LinkageError e) {
                LOG.error("{}: transform refused, its descriptor failed: {}", bundle.getSymbolicName(), e.toString());
                failures.put(revisionKey(bundle), "its transform's descriptor failed: " + e);
                context.ungetService(reference);
                return null;
            }
        }

        @Override
        public void modifiedService(ServiceReference<ModelTransform> reference, Tracked tracked) {
            // service properties carry nothing the registry uses
        }

        @Override
        public void removedService(ServiceReference<ModelTransform> reference, Tracked tracked) {
            LOG.info("transform {} {} withdrawn", tracked.descriptor().id(), tracked.descriptor().version());
            try {
                context.ungetService(reference);
            } catch (IllegalStateException e) {
                // framework stopping
            }
        }
    }
}
