package io.modelrefinery.host.service;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.host.artifact.ArtifactFetcher;
import io.modelrefinery.host.artifact.ArtifactPolicy;
import io.modelrefinery.host.artifact.PolicyRegistryHttp;
import io.modelrefinery.host.eval.QualityGates;
import io.modelrefinery.host.event.RegistryAdapters;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.host.artifact.ArtifactStore;
import io.modelrefinery.host.event.EventGridWebhook;
import io.modelrefinery.host.event.MlflowWebhook;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.http.HttpApi;
import io.modelrefinery.host.auto.RecipeMemory;
import io.modelrefinery.host.job.JobRunner;
import io.modelrefinery.host.kafka.ConsumerGroupLag;
import io.modelrefinery.host.kafka.EmbeddedKafkaBroker;
import io.modelrefinery.host.kafka.KafkaSettings;
import io.modelrefinery.host.kafka.OutcomePublisher;
import io.modelrefinery.host.kafka.RegisteredEventConsumer;
import io.modelrefinery.host.kafka.Topics;
import io.modelrefinery.host.metrics.RefineryMetrics;
import io.modelrefinery.host.ort.DeviceChoice;
import io.modelrefinery.host.ort.IsolatedProbe;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.osgi.PluginFramework;
import io.modelrefinery.host.osgi.PluginInfo;
import io.modelrefinery.host.osgi.PluginInstaller;
import io.modelrefinery.host.pipeline.StepLimits;
import io.vertx.core.Vertx;
import org.apache.kafka.clients.admin.Admin;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * The refinery as a service: Kafka in and out (an embedded broker unless one is configured), the plugin
 * framework, the job workers, the HTTP API and metrics. {@link #start} returns once every part runs;
 * {@link #close} stops them in reverse order, letting running jobs finish within the grace period.
 */
public final class RefineryService implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(RefineryService.class);
    /** How often the consumer group's lag is asked of the broker for {@code refinery_consumer_group_lag}. */
    private static final Duration GROUP_LAG_INTERVAL = Duration.ofSeconds(10);

    private final ServiceConfig config;
    private final Deque<AutoCloseable> started = new ArrayDeque<>();
    private EmbeddedKafkaBroker broker;
    private String bootstrapServers;
    private PluginFramework plugins;
    private RegisteredEventConsumer consumer;
    private HttpApi http;
    private JobService jobs;
    private JobTracker tracker;
    private PrometheusMeterRegistry registry;

    private RefineryService(ServiceConfig config) {
        this.config = config;
    }

    /** Starts every part; on failure, stops what already started and rethrows. */
    public static RefineryService start(ServiceConfig config) throws Exception {
        RefineryService service = new RefineryService(config);
        try {
            service.startParts();
            return service;
        } catch (Exception | Error e) {
            service.close();
            throw e;
        }
    }

    private void startParts() throws Exception {
        Path data = Files.createDirectories(config.dataDir());
        if (config.bootstrapServers() == null) {
            broker = EmbeddedKafkaBroker.start(data.resolve("kafka"), config.kafkaPort());
            started.push(broker);
            bootstrapServers = broker.bootstrapServers();
            LOG.info("embedded Kafka broker on {}", bootstrapServers);
        } else {
            bootstrapServers = config.bootstrapServers();
        }
        KafkaSettings kafka = new KafkaSettings(bootstrapServers, config.groupId(), config.topics(), config.partitions(),
                config.kafkaOverrides());
        try (Admin admin = Admin.create(kafka.admin("refinery-admin"))) {
            Topics.ensure(admin, config.topics().all().stream()
                    .collect(Collectors.toMap(t -> t, t -> config.partitions(), (a, b) -> a, LinkedHashMap::new)),
                    Optional.ofNullable(config.replicationFactor()));
        }

        plugins = PluginFramework.start(new PluginFramework.Config(config.pluginsDir(), data.resolve("felix"),
                Duration.ofSeconds(1), config.pluginAllowList()));
        started.push(plugins);
        plugins.registry().awaitSettled(Duration.ofSeconds(30));

        registry = RefineryMetrics.prometheusRegistry();
        RefineryMetrics metrics = new RefineryMetrics(registry);
        for (PluginInfo.State state : PluginInfo.State.values()) {
            metrics.pluginGauge(state.name(), plugins.registry(),
                    r -> r.plugins().stream().filter(p -> p.state() == state).count());
        }
        OrtRuntime runtime = new OrtRuntime();
        DeviceChoice device = runtime.resolve(config.device());
        Path work = data.resolve("work");
        Folders.deleteQuietly(work); // jobs of an earlier run that did not finish start over
        Files.createDirectories(work);
        for (Path root : config.artifactRoots()) {
            Files.createDirectories(root);
        }
        ArtifactFetcher fetcher = new ArtifactFetcher(new ArtifactPolicy(config.artifactRoots(), config.allowedHosts(),
                config.maxArtifactBytes(), Duration.ofSeconds(10), Duration.ofMinutes(10), false, config.privateHosts()));
        Registries registries = new Registries(plugins.registry()::resolvers, plugins.registry()::writers,
                config.registry(), new PolicyRegistryHttp(fetcher), config.writeBack());
        ArtifactStore store = new ArtifactStore(data.resolve("artifacts"));
        store.removeAbandonedTemporaries(Duration.ofMinutes(10));
        OutcomeStore outcomes = new OutcomeStore(data.resolve("outcomes"));
        String instance = "refinery-" + UUID.randomUUID().toString().substring(0, 8);

        OutcomePublisher publisher = new OutcomePublisher(kafka, instance + "-producer");
        started.push(publisher);
        publisher.bindMetrics(registry);
        tracker = new JobTracker(1000);
        jobs = new JobService(new JobService.Settings(config.defaultPipeline(), config.maxAttempts(),
                config.firstBackoff(), work, config.gates(), new JobRunner.Settings(config.workers(),
                config.evaluation(), StepLimits.of(config.stepTimeout()),
                JobRunner.Settings.heapShare(config.workers()),
                config.isolateUntrustedModels() ? new IsolatedProbe(IsolatedProbe.Limits.defaults()) : null,
                new RecipeMemory(data.resolve("recipes")))),
                plugins.registry(), registries, runtime, device, fetcher,
                store, outcomes, publisher, config.topics(), tracker, metrics, Clock.systemUTC());
        metrics.expect(List.of(config.defaultPipeline().toString()), jobs.stagesOfDefaultPipeline(),
                QualityGates.ALL.stream().map(ParamSpec::name).toList(), RegistryAdapters.IGNORE_REASONS);

        consumer = new RegisteredEventConsumer(kafka, instance + "-consumer", jobs::handle, config.workers(),
                config.shutdownGrace(), jobs::cancelRunning);
        consumer.bindMetrics(registry);
        consumer.start();
        started.push(consumer);
        ConsumerGroupLag groupLag = new ConsumerGroupLag(kafka, instance + "-lag");
        started.push(groupLag);
        groupLag.bindMetrics(registry);
        groupLag.start(GROUP_LAG_INTERVAL);

        Vertx vertx = Vertx.vertx();
        started.push(() -> vertx.close().await(10, TimeUnit.SECONDS));
        http = new HttpApi(new HttpApi.Settings(config.httpHost(), config.httpPort(), plugins.registry(), tracker,
                publisher, config.topics().registered(), jobs::jobId, registry, this::health,
                config.mlflowSecret() == null ? null : new MlflowWebhook(config.mlflowSecret()),
                config.eventGridKey() == null ? null : new EventGridWebhook(config.eventGridKey()), Clock.systemUTC(),
                new PluginInstaller(plugins.registry(), Duration.ofSeconds(20)), config.apiToken()));
        if (config.apiToken() == null && !isLoopback(config.httpHost())) {
            LOG.warn("the HTTP API listens on {} without an API token: anyone who reaches it can register models and "
                    + "install plugins; configure one (serve --api-token-file FILE or $REFINERY_API_TOKEN)", config.httpHost());
        }
        vertx.deployVerticle(http).await(30, TimeUnit.SECONDS);
        LOG.info("refinery {} serving: Kafka {}, HTTP port {}, {} workers, device {}", instance, bootstrapServers,
                http.port(), config.workers(), device.device().id());
    }

    private static boolean isLoopback(String host) {
        try {
            return java.net.InetAddress.getByName(host).isLoopbackAddress();
        } catch (java.net.UnknownHostException e) {
            return false;
        }
    }

    /** Ready when the consumer polls in its group and every plugin jar has settled. */
    HttpApi.Health health() {
        Map<String, String> checks = new LinkedHashMap<>();
        boolean kafkaUp = consumer != null && consumer.healthy();
        checks.put("kafka", kafkaUp ? "UP" : "DOWN: the consumer has not joined its group or stopped polling");
        long starting = plugins.registry().plugins().stream().filter(p -> p.state() == PluginInfo.State.STARTING)
                .count();
        checks.put("plugins", starting == 0 ? "UP" : "DOWN: " + starting + " plugin jars still loading");
        return new HttpApi.Health(kafkaUp && starting == 0, checks);
    }

    public String bootstrapServers() {
        return bootstrapServers;
    }

    public int httpPort() {
        return http.port();
    }

    public JobTracker jobs() {
        return tracker;
    }

    /** The job id a registration gets on this instance. */
    public String jobId(ModelRegistered registered) {
        return jobs.jobId(registered);
    }

    public PrometheusMeterRegistry metrics() {
        return registry;
    }

    public PluginFramework plugins() {
        return plugins;
    }

    @Override
    public void close() {
        while (!started.isEmpty()) {
            AutoCloseable part = started.pop();
            try {
                part.close();
            } catch (Exception e) {
                LOG.warn("stopping {} failed: {}", part.getClass().getSimpleName(), e.toString());
            }
        }
    }
}
