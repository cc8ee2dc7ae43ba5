package io.modelrefinery.host.cli;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.host.pipeline.DefaultPipelines;
import io.modelrefinery.host.eval.QualityGates;
import io.modelrefinery.host.http.ApiToken;
import io.modelrefinery.host.kafka.EventTopics;
import io.modelrefinery.host.osgi.PluginAllowList;
import io.modelrefinery.host.ort.DeviceRequest;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.artifact.ArtifactPolicy;
import io.modelrefinery.host.service.RefineryService;
import io.modelrefinery.host.service.Registries;
import io.modelrefinery.host.service.RegistrySettings;
import io.modelrefinery.host.service.ServiceConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code refinery serve}: consumes registered-model events and publishes outcomes until stopped. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Optimizes every model registered on Kafka; HTTP API and metrics alongside.")
final class ServeCommand implements Callable<Integer> {
    static final String MLFLOW_SECRET_ENV = "REFINERY_MLFLOW_SECRET";
    static final String EVENTGRID_KEY_ENV = "REFINERY_EVENTGRID_KEY";
    static final String API_TOKEN_ENV = "REFINERY_API_TOKEN";
    /** The names MLflow's own clients read their settings under, which are also what registry plugins ask for. */
    static final String TRACKING_URI = "MLFLOW_TRACKING_URI";
    static final String TRACKING_TOKEN = "MLFLOW_TRACKING_TOKEN";
    static final String TRACKING_USERNAME = "MLFLOW_TRACKING_USERNAME";
    static final String TRACKING_PASSWORD = "MLFLOW_TRACKING_PASSWORD";

    @Spec
    CommandSpec spec;

    @Option(names = "--http-host", defaultValue = "127.0.0.1", description = "Address of the HTTP API. Default: ${DEFAULT-VALUE}.")
    String httpHost;

    @Option(names = "--http-port", defaultValue = "8080", description = "Port of the HTTP API. Default: ${DEFAULT-VALUE}.")
    int httpPort;

    @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT",
            description = "An existing Kafka cluster. Without it an embedded single-node broker runs.")
    String bootstrapServers;

    @Option(names = "--kafka-port", defaultValue = "9092", description = "Port of the embedded broker. Default: ${DEFAULT-VALUE}.")
    int kafkaPort;

    @Option(names = "--kafka-property", paramLabel = "KEY=VALUE",
            description = "Kafka client property passed unchanged (TLS, SASL); repeatable.")
    Map<String, String> kafkaProperties = new LinkedHashMap<>();

    @Option(names = "--plugins-dir", paramLabel = "DIR", description = "Plugin jars. Default: plugins/ next to refinery.jar.")
    Path pluginsDir;

    @Option(names = "--data-dir", paramLabel = "DIR", defaultValue = "refinery-data",
            description = "Broker data, outcomes, optimized models, auto's recipe memory. Default: ${DEFAULT-VALUE}.")
    Path dataDir;

    @Option(names = "--artifact-root", paramLabel = "DIR",
            description = "Folder file: URIs may point into; repeatable. Default: DATA_DIR/inbox.")
    List<Path> artifactRoots = new ArrayList<>();

    @Option(names = "--allow-host", paramLabel = "HOST", description = "Host http(s): URIs may point to (*.example.com allowed); repeatable.")
    List<String> allowedHosts = new ArrayList<>();

    @Option(names = "--allow-private-host", paramLabel = "HOST", description = "Host that may resolve to a private "
            + "address, such as a model registry inside the cluster (exact name or IP, also allowed as --allow-host); repeatable.")
    List<String> privateHosts = new ArrayList<>();

    @Option(names = "--mlflow-tracking-uri", paramLabel = "URI", description = "MLflow tracking server (or an Azure "
            + "Machine Learning workspace's azureml:// tracking URI) that models:/, runs:/ and mlflow-artifacts:/ sources "
            + "and registry events without a URI are resolved through (or set $" + TRACKING_URI + ").")
    String trackingUri;

    @Option(names = "--mlflow-tracking-token-file", paramLabel = "FILE", description = "File holding the bearer token "
            + "for the tracking server, read at each use (or set $" + TRACKING_TOKEN + ").")
    Path trackingTokenFile;

    @Option(names = "--mlflow-tracking-username", paramLabel = "USER", description = "User for HTTP basic "
            + "authentication at the tracking server (or set $" + TRACKING_USERNAME + ").")
    String trackingUsername;

    @Option(names = "--mlflow-tracking-password-file", paramLabel = "FILE", description = "File holding that user's "
            + "password, read at each use (or set $" + TRACKING_PASSWORD + ").")
    Path trackingPasswordFile;

    @Option(names = "--mlflow-register", arity = "0..1", fallbackValue = "true", defaultValue = "false",
            description = "Register every optimized model back as a new version in the registry it came from (an "
                    + "event's tag refinery.register=true or false decides for that event).")
    boolean register;

    @Option(names = "--mlflow-register-alias", paramLabel = "ALIAS", description = "Alias to point at each version "
            + "registered back, such as optimized.")
    String registerAlias;

    @Option(names = "--max-artifact-bytes", defaultValue = "2147483648", description = "Largest model or dataset fetched. Default: ${DEFAULT-VALUE}.")
    long maxArtifactBytes;

    @Option(names = "--workers", defaultValue = "1", description = "Jobs run at once. Default: ${DEFAULT-VALUE}.")
    int workers;

    @Option(names = "--group-id", defaultValue = "model-refinery", description = "Consumer group of all instances. Default: ${DEFAULT-VALUE}.")
    String groupId;

    @Option(names = "--partitions", defaultValue = "6", description = "Partitions of topics the refinery creates. Default: ${DEFAULT-VALUE}.")
    int partitions;

    @Option(names = "--replication-factor", description = "Replication of topics the refinery creates. Default: the brokers' default.")
    Short replicationFactor;

    @Option(names = "--registered-topic", defaultValue = "refinery.model.registered", description = "Default: ${DEFAULT-VALUE}.")
    String registeredTopic;

    @Option(names = "--optimized-topic", defaultValue = "refinery.model.optimized", description = "Default: ${DEFAULT-VALUE}.")
    String optimizedTopic;

    @Option(names = "--failed-topic", defaultValue = "refinery.model.failed", description = "Default: ${DEFAULT-VALUE}.")
    String failedTopic;

    @Option(names = "--dlq-topic", defaultValue = "refinery.model.registered.dlq", description = "Default: ${DEFAULT-VALUE}.")
    String deadLetterTopic;

    @Option(names = "--pipeline", paramLabel = "SPEC", description = "Pipeline of events that name none. Default: ${DEFAULT-VALUE}.")
    String pipeline = DefaultPipelines.JOB;

    @Option(names = "--device", defaultValue = "auto", description = "cpu, cuda or auto. Default: ${DEFAULT-VALUE}.")
    DeviceRequest device;

    @Option(names = "--retries", defaultValue = "2", description = "Retries of a job whose failure may pass. Default: ${DEFAULT-VALUE}.")
    int retries;

    @Option(names = "--mlflow-secret-file", paramLabel = "FILE",
            description = "File holding the MLflow webhook secret (or set $" + MLFLOW_SECRET_ENV + "); without one POST /webhooks/mlflow is off.")
    Path mlflowSecretFile;

    @Option(names = "--eventgrid-key-file", paramLabel = "FILE",
            description = "File holding the key Event Grid deliveries carry as ?key= in the webhook URL (or set $"
                    + EVENTGRID_KEY_ENV + "); without one POST /webhooks/eventgrid is off.")
    Path eventGridKeyFile;

    @Option(names = "--api-token-file", paramLabel = "FILE",
            description = "File holding the bearer token that POST /models, PUT and DELETE /plugins require (or set $"
                    + API_TOKEN_ENV + "). Configure one whenever others can reach the HTTP port.")
    Path apiTokenFile;

    @Option(names = "--step-timeout", paramLabel = "DURATION", defaultValue = "30m", converter = DurationConverter.class,
            description = "How long one pipeline step may run before the job fails (90s, 30m, 2h; 0 for no limit). "
                    + "Default: ${DEFAULT-VALUE}.")
    Duration stepTimeout;

    @Option(names = "--latency-budget", paramLabel = "DURATION", defaultValue = "3s", converter = DurationConverter.class,
            description = "How long each job times its result against the original (in pairs of runs, after warm-up) "
                    + "once the fewest pairs are in; timing stops sooner when the ratio is stable. Default: ${DEFAULT-VALUE}.")
    Duration latencyBudget;

    @Option(names = "--isolate-untrusted-models", description = "Open each registered model in a child process "
            + "(capped heap, address space and time) before this one touches it: a model that crashes ONNX Runtime's "
            + "native code then fails its job instead of the service.")
    boolean isolateUntrustedModels;

    @Option(names = "--plugin-allow-list", paramLabel = "FILE", description = "Load only the plugin jars this file "
            + "names, one 'SYMBOLIC-NAME SHA256' per line; others stay inert (state refused).")
    Path pluginAllowList;

    @Option(names = "--gate", paramLabel = "NAME=VALUE", description = "A quality gate every job's result must pass, "
            + "such as max-accuracy-drop=0.005 (repeatable; a pipeline's own gates override it).")
    List<String> gateSettings = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        ServiceConfig config = config();
        CountDownLatch stopped = new CountDownLatch(1);
        RefineryService service = RefineryService.start(config);
        Thread hook = new Thread(() -> {
            service.close();
            stopped.countDown();
        }, "refinery-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        spec.commandLine().getOut().println("serving: Kafka " + service.bootstrapServers() + ", HTTP http://" + httpHost
                + ":" + service.httpPort() + " (stop with Ctrl-C)");
        stopped.await();
        return ExitCode.OK;
    }

    ServiceConfig config() throws IOException {
        try {
            return ServiceConfig.builder(dataDir, pluginsDir != null ? pluginsDir : HostPaths.defaultPluginsDir())
                    .bootstrapServers(bootstrapServers)
                    .kafkaPort(kafkaPort)
                    .replicationFactor(replicationFactor)
                    .kafkaOverrides(kafkaProperties)
                    .http(httpHost, httpPort)
                    .workers(workers)
                    .groupId(groupId)
                    .topics(new EventTopics(registeredTopic, optimizedTopic, failedTopic, deadLetterTopic), partitions)
                    .artifactRoots(artifactRoots.isEmpty() ? List.of(dataDir.toAbsolutePath().resolve("inbox"))
                            : artifactRoots.stream().map(p -> p.toAbsolutePath().normalize()).toList())
                    .allowedHosts(nonBlank(allowedHosts))
                    .privateHosts(nonBlank(privateHosts))
                    .registry(registrySettings())
                    .writeBack(new Registries.WriteBack(register, registerAlias == null || registerAlias.isBlank() ? null
                            : registerAlias.strip()))
                    .maxArtifactBytes(maxArtifactBytes)
                    .defaultPipeline(PipelineSpec.parse(pipeline))
                    .device(device)
                    .retries(retries + 1, Duration.ofSeconds(1))
                    .mlflowSecret(secret(mlflowSecretFile, MLFLOW_SECRET_ENV, "MLflow secret"))
                    .eventGridKey(secret(eventGridKeyFile, EVENTGRID_KEY_ENV, "Event Grid key"))
                    .apiToken(apiToken())
                    .gates(QualityGates.parseAssignments(gateSettings, "--gate"))
                    .stepTimeout(stepTimeout)
                    .latencyBudget(latencyBudget)
                    .isolateUntrustedModels(isolateUntrustedModels)
                    .pluginAllowList(pluginAllowList == null ? PluginAllowList.all() : PluginAllowList.read(pluginAllowList))
                    .build();
        } catch (IllegalArgumentException e) {
            throw new InvalidInputException(e.getMessage(), e);
        }
    }

    /** The values given; blank ones (an unset variable in a deployment's arguments) are left out. */
    private static LinkedHashSet<String> nonBlank(List<String> values) {
        LinkedHashSet<String> out = new LinkedHashSet<>();
        values.stream().filter(v -> v != null && !v.isBlank()).map(String::strip).forEach(out::add);
        return out;
    }

    /**
     * The MLflow settings from the options, else the environment, as MLflow's clients read them. The
     * tracking server's host must be allowed like any other remote host.
     */
    RegistrySettings registrySettings() {
        RegistrySettings settings = RegistrySettings.none()
                .with(TRACKING_URI, trackingUri != null ? trackingUri : System.getenv(TRACKING_URI))
                .with(TRACKING_USERNAME, trackingUsername != null ? trackingUsername : System.getenv(TRACKING_USERNAME));
        settings = trackingTokenFile != null ? settings.withFile(TRACKING_TOKEN, requireFile(trackingTokenFile, "token"))
                : settings.with(TRACKING_TOKEN, System.getenv(TRACKING_TOKEN));
        settings = trackingPasswordFile != null
                ? settings.withFile(TRACKING_PASSWORD, requireFile(trackingPasswordFile, "password"))
                : settings.with(TRACKING_PASSWORD, System.getenv(TRACKING_PASSWORD));
        settings.get(TRACKING_URI).ifPresent(this::requireTrackingHostAllowed);
        return settings;
    }

    private static Path requireFile(Path file, String what) {
        if (!Files.isRegularFile(file)) {
            throw new InvalidInputException("MLflow tracking " + what + " file not found: " + file);
        }
        return file;
    }

    private void requireTrackingHostAllowed(String uri) {
        URI parsed;
        try {
            parsed = new URI(uri);
        } catch (URISyntaxException e) {
            throw new InvalidInputException("MLflow tracking URI is not a URI: '" + uri + "'");
        }
        String host = parsed.getHost();
        if (parsed.getScheme() == null || host == null) {
            throw new InvalidInputException("MLflow tracking URI '" + uri + "' has no scheme and host (http://host:port, "
                    + "https://host or azureml://region.api.azureml.ms/...)");
        }
        boolean allowed = new ArtifactPolicy(List.of(), nonBlank(allowedHosts), 1, Duration.ofSeconds(1),
                Duration.ofSeconds(1), false, nonBlank(privateHosts)).hostAllowed(host);
        if (!allowed) {
            throw new InvalidInputException("the MLflow tracking host '" + host + "' is not allowed: add --allow-host "
                    + host + " (or --allow-private-host " + host + " when it has a cluster-internal address)");
        }
    }

    /** The token from the file, else from the environment; {@code null} when neither is set. */
    private ApiToken apiToken() throws IOException {
        if (apiTokenFile != null) {
            if (!Files.isRegularFile(apiTokenFile)) {
                throw new InvalidInputException("API token file not found: " + apiTokenFile);
            }
            try {
                return ApiToken.of(Files.readString(apiTokenFile, StandardCharsets.UTF_8));
            } catch (IllegalArgumentException e) {
                throw new InvalidInputException("API token file " + apiTokenFile + ": " + e.getMessage());
            }
        }
        String fromEnv = System.getenv(API_TOKEN_ENV);
        if (fromEnv == null || fromEnv.isBlank()) {
            return null;
        }
        try {
            return ApiToken.of(fromEnv);
        } catch (IllegalArgumentException e) {
            throw new InvalidInputException("$" + API_TOKEN_ENV + ": " + e.getMessage());
        }
    }

    /** A secret from its file, else from its environment variable; {@code null} when neither is set. */
    private static String secret(Path file, String env, String what) throws IOException {
        if (file != null) {
            if (!Files.isRegularFile(file)) {
                throw new InvalidInputException(what + " file not found: " + file);
            }
            return Files.readString(file, StandardCharsets.UTF_8).strip();
        }
        String fromEnv = System.getenv(env);
        return fromEnv == null || fromEnv.isBlank() ? null : fromEnv.strip();
    }
}
