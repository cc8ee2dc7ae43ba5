package io.modelrefinery.host.service;

import io.modelrefinery.host.pipeline.DefaultPipelines;
import io.modelrefinery.host.eval.Evaluator;
import io.modelrefinery.host.eval.QualityGates;
import io.modelrefinery.host.http.ApiToken;
import io.modelrefinery.host.kafka.EventTopics;
import io.modelrefinery.host.ort.DeviceRequest;
import io.modelrefinery.host.osgi.PluginAllowList;
import io.modelrefinery.host.pipeline.PipelineSpec;

import java.lang.reflect.RecordComponent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.StringJoiner;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Everything {@code refinery serve} is told, validated when built. Start from
 * {@link #builder(Path, Path)}, which holds the defaults, and set what differs.
 *
 * @param dataDir where the broker, outcomes, artifacts and temporary files live
 * @param pluginsDir the plugins folder
 * @param artifactRoots folders {@code file:} artifact URIs may point into
 * @param allowedHosts hosts {@code http(s):} artifact URIs may point to ({@code *.example.com} allowed)
 * @param maxArtifactBytes the largest model or dataset fetched
 * @param bootstrapServers an external Kafka cluster, or {@code null} for the embedded broker
 * @param kafkaPort the embedded broker's port (0 picks a free one)
 * @param replicationFactor replication of the topics the refinery creates; {@code null} for the brokers' default
 * @param httpHost the address the HTTP API binds
 * @param httpPort the HTTP port (0 picks a free one)
 * @param workers jobs run at once by this instance
 * @param groupId the consumer group all instances share
 * @param topics topic names
 * @param partitions partitions of the topics the refinery creates
 * @param kafkaOverrides client properties passed to Kafka unchanged (TLS, SASL)
 * @param defaultPipeline the pipeline of events that name none
 * @param device cpu, cuda or auto
 * @param mlflowSecret the secret MLflow signs webhooks with; {@code null} turns the webhook off
 * @param maxAttempts runs of a job whose failures are retriable
 * @param firstBackoff wait before the first retry, doubled each time
 * @param shutdownGrace how long running jobs may finish when the service stops
 * @param gates quality gates of every job; gates a job's pipeline sets override them
 * @param stepTimeout how long one pipeline step may run; {@link Duration#ZERO} for no limit
 * @param pluginAllowList which plugin jars may load
 * @param isolateUntrustedModels whether each registered model is first opened in a child process
 * @param apiToken the bearer token the HTTP API's mutating endpoints require; {@code null} leaves them open
 * @param privateHosts hosts named one by one that may resolve to private addresses (a registry in the cluster)
 * @param registry the registry settings resolver and writer plugins read ({@code MLFLOW_TRACKING_URI}, ...)
 * @param writeBack whether optimized models are registered back by default, and under which alias
 * @param eventGridKey the key Event Grid webhook deliveries carry in their URL; {@code null} turns the webhook off
 * @param latencyBudget how long each job times its result against the original once the fewest pairs are in
 */
public record ServiceConfig(Path dataDir, Path pluginsDir, List<Path> artifactRoots, Set<String> allowedHosts,
                            long maxArtifactBytes, String bootstrapServers, int kafkaPort, Short replicationFactor,
                            String httpHost, int httpPort, int workers, String groupId, EventTopics topics,
                            int partitions, Map<String, String> kafkaOverrides, PipelineSpec defaultPipeline,
                            DeviceRequest device, String mlflowSecret, int maxAttempts, Duration firstBackoff,
                            Duration shutdownGrace, QualityGates gates, Duration stepTimeout,
                            PluginAllowList pluginAllowList, boolean isolateUntrustedModels,
                            ApiToken apiToken, Set<String> privateHosts, RegistrySettings registry,
                            Registries.WriteBack writeBack, String eventGridKey, Duration latencyBudget) {

    public ServiceConfig {
        Objects.requireNonNull(dataDir, "dataDir");
        Objects.requireNonNull(pluginsDir, "pluginsDir");
        artifactRoots = List.copyOf(artifactRoots);
        allowedHosts = Set.copyOf(allowedHosts);
        privateHosts = Set.copyOf(privateHosts);
        registry = registry == null ? RegistrySettings.none() : registry;
        writeBack = writeBack == null ? Registries.WriteBack.off() : writeBack;
        kafkaOverrides = Map.copyOf(kafkaOverrides);
        Objects.requireNonNull(topics, "topics");
        Objects.requireNonNull(defaultPipeline, "defaultPipeline");
        Objects.requireNonNull(device, "device");
        gates = gates == null ? QualityGates.none() : gates;
        Objects.requireNonNull(stepTimeout, "stepTimeout");
        pluginAllowList = pluginAllowList == null ? PluginAllowList.all() : pluginAllowList;
        require(!stepTimeout.isNegative(), "the step timeout must not be negative, not " + stepTimeout);
        Objects.requireNonNull(latencyBudget, "latencyBudget");
        require(!latencyBudget.isNegative(), "the latency budget must not be negative, not " + latencyBudget);
        require(workers >= 1, "workers must be at least 1, not " + workers);
        require(partitions >= 1, "partitions must be at least 1, not " + partitions);
        require(maxAttempts >= 1, "max attempts must be at least 1, not " + maxAttempts);
        require(maxArtifactBytes > 0, "the artifact size limit must be positive, not " + maxArtifactBytes);
        require(kafkaPort >= 0 && kafkaPort < 65536, "Kafka port " + kafkaPort + " is not a port");
        require(httpPort >= 0 && httpPort < 65536, "HTTP port " + httpPort + " is not a port");
        require(replicationFactor == null || replicationFactor >= 1, "replication factor must be at least 1");
    }

    /** How every job is evaluated: the defaults, with this service's latency budget, one sample per timed run. */
    public Evaluator.Settings evaluation() {
        return Evaluator.Settings.defaults().withLatencyBudget(latencyBudget.toMillis(), 1);
    }

    /**
     * The settings with secrets masked: the MLflow secret and every Kafka setting whose name says it holds
     * a credential ({@code password}, {@code secret}, {@code jaas}, {@code key} in the name), so that the
     * configuration can be logged.
     */
    @Override
    public String toString() {
        StringJoiner fields = new StringJoiner(", ", "ServiceConfig[", "]");
        for (RecordComponent component : ServiceConfig.class.getRecordComponents()) {
            Object value;
            try {
                value = component.getAccessor().invoke(this);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
            if ((component.getName().equals("mlflowSecret") || component.getName().equals("eventGridKey"))
                    && value != null) {
                value = MASK;
            } else if (component.getName().equals("kafkaOverrides")) {
                Map<String, String> kafka = new TreeMap<>();
                kafkaOverrides.forEach((k, v) -> kafka.put(k, CREDENTIAL.matcher(k).find() ? MASK : v));
                value = kafka;
            }
            fields.add(component.getName() + "=" + value);
        }
        return fields.toString();
    }

    private static final String MASK = "[hidden]";
    private static final Pattern CREDENTIAL = Pattern.compile("(?i)password|secret|jaas|key");

    private static void require(boolean ok, String problem) {
        if (!ok) {
            throw new IllegalArgumentException(problem);
        }
    }

    /** A builder with the defaults: embedded broker on 9092, HTTP on 127.0.0.1:8080, one worker, inbox under the data folder. */
    public static Builder builder(Path dataDir, Path pluginsDir) {
        return new Builder(dataDir, pluginsDir);
    }

    /** Builds a {@link ServiceConfig}; each setter replaces one default. */
    public static final class Builder {
        private final Path dataDir;
        private final Path pluginsDir;
        private List<Path> artifactRoots;
        private Set<String> allowedHosts = Set.of();
        private long maxArtifactBytes = 2L << 30;
        private String bootstrapServers;
        private int kafkaPort = 9092;
        private Short replicationFactor;
        private String httpHost = "127.0.0.1";
        private int httpPort = 8080;
        private int workers = 1;
        private String groupId = "model-refinery";
        private EventTopics topics = EventTopics.defaults();
        private int partitions = 6;
        private Map<String, String> kafkaOverrides = Map.of();
        private PipelineSpec defaultPipeline = PipelineSpec.parse(DefaultPipelines.JOB);
        private DeviceRequest device = DeviceRequest.AUTO;
        private String mlflowSecret;
        private String eventGridKey;
        private int maxAttempts = 3;
        private Duration firstBackoff = Duration.ofSeconds(1);
        private Duration shutdownGrace = Duration.ofSeconds(30);
        private QualityGates gates = QualityGates.none();
        private Duration stepTimeout = Duration.ofMinutes(30);
        private PluginAllowList pluginAllowList = PluginAllowList.all();
        private boolean isolateUntrustedModels;
        private ApiToken apiToken;
        private Set<String> privateHosts = Set.of();
        private RegistrySettings registry = RegistrySettings.none();
        private Registries.WriteBack writeBack = Registries.WriteBack.off();
        private Duration latencyBudget = Duration.ofMillis(Evaluator.Settings.DEFAULT_LATENCY_BUDGET_MILLIS);

        private Builder(Path dataDir, Path pluginsDir) {
            this.dataDir = dataDir.toAbsolutePath().normalize();
            this.pluginsDir = pluginsDir;
            this.artifactRoots = List.of(this.dataDir.resolve("inbox"));
        }

        /** Uses an external cluster; {@code null} keeps the embedded broker. */
        public Builder bootstrapServers(String servers) {
            this.bootstrapServers = servers;
            return this;
        }

        public Builder kafkaPort(int port) {
            this.kafkaPort = port;
            return this;
        }

        public Builder replicationFactor(Short factor) {
            this.replicationFactor = factor;
            return this;
        }

        public Builder http(String host, int port) {
            this.httpHost = host;
            this.httpPort = port;
            return this;
        }

        public Builder workers(int count) {
            this.workers = count;
            return this;
        }

        public Builder artifactRoots(List<Path> roots) {
            this.artifactRoots = roots;
            return this;
        }

        public Builder allowedHosts(Set<String> hosts) {
            this.allowedHosts = hosts;
            return this;
        }

        /** Hosts that may resolve to private addresses, each named exactly (also allowed hosts). */
        public Builder privateHosts(Set<String> hosts) {
            this.privateHosts = hosts;
            return this;
        }

        /** The settings registry plugins read, such as {@code MLFLOW_TRACKING_URI}. */
        public Builder registry(RegistrySettings settings) {
            this.registry = settings;
            return this;
        }

        /** Whether and how optimized models are registered back by default. */
        public Builder writeBack(Registries.WriteBack back) {
            this.writeBack = back;
            return this;
        }

        public Builder maxArtifactBytes(long bytes) {
            this.maxArtifactBytes = bytes;
            return this;
        }

        public Builder groupId(String group) {
            this.groupId = group;
            return this;
        }

        public Builder topics(EventTopics names, int partitionCount) {
            this.topics = names;
            this.partitions = partitionCount;
            return this;
        }

        public Builder kafkaOverrides(Map<String, String> overrides) {
            this.kafkaOverrides = overrides;
            return this;
        }

        public Builder defaultPipeline(PipelineSpec pipeline) {
            this.defaultPipeline = pipeline;
            return this;
        }

        public Builder device(DeviceRequest request) {
            this.device = request;
            return this;
        }

        public Builder eventGridKey(String key) {
            this.eventGridKey = key;
            return this;
        }

        public Builder mlflowSecret(String secret) {
            this.mlflowSecret = secret;
            return this;
        }

        public Builder retries(int attempts, Duration backoff) {
            this.maxAttempts = attempts;
            this.firstBackoff = backoff;
            return this;
        }

        public Builder shutdownGrace(Duration grace) {
            this.shutdownGrace = grace;
            return this;
        }

        public Builder isolateUntrustedModels(boolean isolate) {
            this.isolateUntrustedModels = isolate;
            return this;
        }

        public Builder pluginAllowList(PluginAllowList allowList) {
            this.pluginAllowList = allowList;
            return this;
        }

        /** Requires {@code Authorization: Bearer <token>} on mutating HTTP endpoints; {@code null} leaves them open. */
        public Builder apiToken(ApiToken token) {
            this.apiToken = token;
            return this;
        }

        public Builder stepTimeout(Duration timeout) {
            this.stepTimeout = timeout;
            return this;
        }

        /** How long each job times its result against the original once the fewest pairs are in. */
        public Builder latencyBudget(Duration budget) {
            this.latencyBudget = budget;
            return this;
        }

        public Builder gates(QualityGates defaults) {
            this.gates = defaults;
            return this;
        }

        /**
         * The configuration.
         *
         * @throws IllegalArgumentException naming the first value out of range
         */
        public ServiceConfig build() {
            return new ServiceConfig(dataDir, pluginsDir, artifactRoots, allowedHosts, maxArtifactBytes,
                    bootstrapServers, kafkaPort, replicationFactor, httpHost, httpPort, workers, groupId, topics,
                    partitions, kafkaOverrides, defaultPipeline, device, mlflowSecret, maxAttempts, firstBackoff,
                    shutdownGrace, gates, stepTimeout, pluginAllowList, isolateUntrustedModels, apiToken, privateHosts,
                    registry, writeBack, eventGridKey, latencyBudget);
        }
    }
}
