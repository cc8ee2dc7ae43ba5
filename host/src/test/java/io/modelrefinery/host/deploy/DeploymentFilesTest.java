package io.modelrefinery.host.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The files of {@code deploy/} parse and hang together: the image, compose stack and Kubernetes manifests
 * cannot run here (no container engine), so what they promise each other is checked statically: ports,
 * probe paths, names, selectors, the consumer group and topic KEDA watches, replicas within the partition
 * count, and the provisioning of the dashboards.
 */
class DeploymentFilesTest {
    private static final YAMLMapper YAML = new YAMLMapper();
    private static final Path DEPLOY = TestModels.root().resolve("deploy");

    private static JsonNode yaml(Path file) throws IOException {
        List<JsonNode> docs = docs(file);
        assertEquals(1, docs.size(), file + " holds one document");
        return docs.get(0);
    }

    private static List<JsonNode> docs(Path file) throws IOException {
        List<JsonNode> docs = new ArrayList<>();
        try (MappingIterator<JsonNode> it = YAML.readerFor(JsonNode.class).readValues(file.toFile())) {
            while (it.hasNext()) {
                JsonNode doc = it.next();
                if (doc != null && !doc.isNull() && !doc.isMissingNode()) {
                    docs.add(doc);
                }
            }
        }
        return docs;
    }

    /** Every Kubernetes object of deploy/k8s by kind and name. */
    private static Map<String, JsonNode> k8sObjects() throws IOException {
        Map<String, JsonNode> objects = new HashMap<>();
        List<Path> files;
        try (Stream<Path> s = Files.list(DEPLOY.resolve("k8s"))) {
            files = s.filter(p -> p.toString().endsWith(".yaml") && !p.endsWith("kustomization.yaml")).sorted().toList();
        }
        for (Path file : files) {
            for (JsonNode doc : docs(file)) {
                for (String key : List.of("apiVersion", "kind", "metadata")) {
                    assertTrue(doc.hasNonNull(key), file + ": " + key);
                }
                String name = doc.at("/metadata/name").asText();
                assertFalse(name.isEmpty(), file + ": metadata.name");
                assertEquals("model-refinery", doc.at("/metadata/labels/app.kubernetes.io~1name").asText(), file + " " + name);
                objects.put(doc.get("kind").asText() + "/" + name, doc);
            }
        }
        return objects;
    }

    private static Map<String, String> arguments(JsonNode args) {
        Map<String, String> options = new HashMap<>();
        for (JsonNode arg : args) {
            String a = arg.asText();
            int eq = a.indexOf('=');
            if (a.startsWith("--") && eq > 0) {
                options.put(a.substring(0, eq), a.substring(eq + 1));
            }
        }
        return options;
    }

    @Test
    void kustomizationListsEveryManifest() throws IOException {
        JsonNode kustomization = yaml(DEPLOY.resolve("k8s/kustomization.yaml"));
        Set<String> listed = new HashSet<>();
        kustomization.get("resources").forEach(r -> listed.add(r.asText()));
        Set<String> present = new HashSet<>();
        try (Stream<Path> s = Files.list(DEPLOY.resolve("k8s"))) {
            s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".yaml") && !n.equals("kustomization.yaml"))
                    .forEach(present::add);
        }
        assertEquals(present, listed);
    }

    @Test
    void kubernetesManifestsAgreeWithEachOtherAndWithServe() throws IOException {
        Map<String, JsonNode> objects = k8sObjects();
        JsonNode deployment = objects.get("Deployment/model-refinery");
        JsonNode config = objects.get("ConfigMap/model-refinery").get("data");
        JsonNode scaled = objects.get("ScaledObject/model-refinery");
        JsonNode service = objects.get("Service/model-refinery");
        JsonNode pdb = objects.get("PodDisruptionBudget/model-refinery");

        JsonNode pod = deployment.at("/spec/template");
        JsonNode selector = deployment.at("/spec/selector/matchLabels");
        selector.fields().forEachRemaining(e -> assertEquals(e.getValue(), pod.at("/metadata/labels").get(e.getKey()),
                "the Deployment selects its pods"));
        assertEquals(selector, service.at("/spec/selector"));
        assertEquals(selector, pdb.at("/spec/selector/matchLabels"));

        JsonNode container = pod.at("/spec/containers/0");
        Map<String, String> options = arguments(container.get("args"));
        assertEquals("serve", container.at("/args/0").asText());
        int httpPort = Integer.parseInt(options.get("--http-port"));
        assertEquals("0.0.0.0", options.get("--http-host"), "reachable from outside the pod");
        JsonNode port = container.at("/ports/0");
        assertEquals(httpPort, port.get("containerPort").asInt());
        for (String probe : List.of("startupProbe", "readinessProbe", "livenessProbe")) {
            assertEquals("/health", container.at("/" + probe + "/httpGet/path").asText(), probe);
            assertEquals(port.get("name").asText(), container.at("/" + probe + "/httpGet/port").asText(), probe);
        }
        assertEquals(port.get("name").asText(), service.at("/spec/ports/0/targetPort").asText());
        assertEquals(Integer.toString(httpPort), pod.at("/metadata/annotations/prometheus.io~1port").asText());
        assertTrue(pod.at("/spec/securityContext/runAsNonRoot").asBoolean());

        // Every $(VAR) in the arguments comes from the ConfigMap the container reads.
        assertEquals("model-refinery", container.at("/envFrom/0/configMapRef/name").asText());
        Matcher vars = Pattern.compile("\\$\\(([A-Z_]+)\\)").matcher(container.get("args").toString());
        int seen = 0;
        while (vars.find()) {
            assertTrue(config.hasNonNull(vars.group(1)), "ConfigMap has " + vars.group(1));
            seen++;
        }
        assertTrue(seen >= 4, "settings come from the ConfigMap");

        // MLflow: the tracking URI from the ConfigMap (as $MLFLOW_TRACKING_URI, which serve reads like MLflow's
        // clients), the webhook secret and the credentials from the Secret, each optional.
        assertTrue(config.has("MLFLOW_TRACKING_URI"));
        Map<String, String> secrets = new HashMap<>();
        for (JsonNode env : container.get("env")) {
            if (env.at("/valueFrom/secretKeyRef/name").asText().equals("model-refinery-mlflow")) {
                assertTrue(env.at("/valueFrom/secretKeyRef/optional").asBoolean(), env.toString());
                secrets.put(env.get("name").asText(), env.at("/valueFrom/secretKeyRef/key").asText());
            }
        }
        assertEquals(Map.of("REFINERY_MLFLOW_SECRET", "webhook-secret", "MLFLOW_TRACKING_TOKEN", "token",
                "MLFLOW_TRACKING_USERNAME", "username", "MLFLOW_TRACKING_PASSWORD", "password"), secrets);
        assertEquals("$(REFINERY_ALLOW_PRIVATE_HOST)", options.get("--allow-private-host"));
        assertEquals("$(REFINERY_MLFLOW_REGISTER)", options.get("--mlflow-register"));
        assertEquals("false", config.get("REFINERY_MLFLOW_REGISTER").asText());

        // Volumes: every mount has a volume, every claim exists, plugins are mounted where serve reads them.
        Set<String> volumes = new HashSet<>();
        for (JsonNode v : pod.at("/spec/volumes")) {
            volumes.add(v.get("name").asText());
            if (v.has("persistentVolumeClaim")) {
                String claim = v.at("/persistentVolumeClaim/claimName").asText();
                assertTrue(objects.containsKey("PersistentVolumeClaim/" + claim), claim);
            }
        }
        Map<String, String> mounts = new HashMap<>();
        for (JsonNode c : List.of(container, pod.at("/spec/initContainers/0"))) {
            assertEquals(container.get("image"), c.get("image"), "init and main container run one image");
            for (JsonNode m : c.get("volumeMounts")) {
                assertTrue(volumes.contains(m.get("name").asText()), m.toString());
                if (c == container) {
                    mounts.put(m.get("mountPath").asText(), m.get("name").asText());
                }
            }
        }
        assertEquals("plugins", mounts.get(options.get("--plugins-dir")));
        assertEquals("data", mounts.get(options.get("--data-dir")));
        assertEquals("artifacts", mounts.get(options.get("--data-dir") + "/artifacts"), "the shared artifact store");

        // KEDA watches this deployment's consumer group and topic, up to the partition count.
        assertEquals(deployment.at("/metadata/name"), scaled.at("/spec/scaleTargetRef/name"));
        JsonNode trigger = scaled.at("/spec/triggers/0");
        assertEquals("kafka", trigger.get("type").asText());
        assertEquals(config.get("REFINERY_GROUP_ID").asText(), trigger.at("/metadata/consumerGroup").asText());
        assertEquals(config.get("KAFKA_BOOTSTRAP_SERVERS").asText(), trigger.at("/metadata/bootstrapServers").asText());
        assertEquals("refinery.model.registered", trigger.at("/metadata/topic").asText(), "serve's default topic");
        assertTrue(Integer.parseInt(trigger.at("/metadata/lagThreshold").asText()) > 0);
        int partitions = config.get("REFINERY_PARTITIONS").asInt();
        int max = scaled.at("/spec/maxReplicaCount").asInt();
        int min = scaled.at("/spec/minReplicaCount").asInt();
        assertTrue(min >= 1 && min <= max && max <= partitions,
                "replicas " + min + ".." + max + " within the " + partitions + " partitions");
        assertEquals("false", trigger.at("/metadata/allowIdleConsumers").asText());
    }

    @Test
    void composeStackWiresKafkaRefineryPrometheusAndGrafana() throws IOException {
        JsonNode compose = yaml(DEPLOY.resolve("docker-compose.yml"));
        JsonNode services = compose.get("services");
        for (String s : List.of("kafka", "refinery", "prometheus", "grafana")) {
            assertTrue(services.has(s), s);
            assertTrue(services.get(s).hasNonNull("image"), s + " image");
        }
        assertTrue(services.at("/kafka/image").asText().startsWith("apache/kafka:"), "the official image");
        assertEquals("broker,controller", services.at("/kafka/environment/KAFKA_PROCESS_ROLES").asText(), "KRaft");
        String logDirs = services.at("/kafka/environment/KAFKA_LOG_DIRS").asText();
        assertTrue(services.at("/kafka/volumes").toString().contains(":" + logDirs + "\""), "the broker's data is a volume");

        JsonNode refinery = services.get("refinery");
        assertEquals("deploy/Dockerfile", refinery.at("/build/dockerfile").asText());
        assertTrue(Files.isRegularFile(DEPLOY.resolve(refinery.at("/build/context").asText())
                .resolve(refinery.at("/build/dockerfile").asText())));
        Map<String, String> options = arguments(refinery.get("command"));
        assertEquals("serve", refinery.at("/command/0").asText());
        String advertised = services.at("/kafka/environment/KAFKA_ADVERTISED_LISTENERS").asText();
        assertTrue(advertised.endsWith("//" + options.get("--bootstrap-servers")), advertised);
        assertEquals("0.0.0.0", options.get("--http-host"));
        assertEquals("service_healthy", refinery.at("/depends_on/kafka/condition").asText());

        // Prometheus scrapes the refinery's HTTP port, under its service name.
        Path promConfig = mountedFile(services.get("prometheus"), "/etc/prometheus/prometheus.yml");
        JsonNode prometheus = yaml(promConfig);
        JsonNode job = null;
        for (JsonNode j : prometheus.get("scrape_configs")) {
            if (j.get("job_name").asText().equals("refinery")) {
                job = j;
            }
        }
        assertTrue(job != null, "a refinery scrape job");
        assertEquals("/metrics", job.get("metrics_path").asText());
        assertEquals("refinery:" + options.get("--http-port"), job.at("/static_configs/0/targets/0").asText());
        for (JsonNode rules : prometheus.path("rule_files")) { // mounted beside the configuration
            assertEquals(promConfig.resolveSibling(rules.asText()), mountedFile(services.get("prometheus"),
                    "/etc/prometheus/" + rules.asText()));
        }
        assertTrue(prometheus.path("rule_files").size() > 0, "alerting rules");

        // Grafana: the data source points at the prometheus service, and the dashboards folder is provisioned.
        Path provisioning = mountedFile(services.get("grafana"), "/etc/grafana/provisioning");
        JsonNode datasource = yaml(provisioning.resolve("datasources/prometheus.yml")).at("/datasources/0");
        assertEquals("prometheus", datasource.get("type").asText());
        assertEquals("http://prometheus:9090", datasource.get("url").asText());
        String dashboardsPath = yaml(provisioning.resolve("dashboards/refinery.yml")).at("/providers/0/options/path").asText();
        Path dashboards = mountedFile(services.get("grafana"), dashboardsPath);
        assertEquals(TestModels.root().resolve("dashboards").toRealPath(), dashboards.toRealPath());
        try (Stream<Path> s = Files.list(dashboards)) {
            assertTrue(s.anyMatch(p -> p.toString().endsWith(".json")));
        }
    }

    /** The host path of a bind mount {@code host:container[:mode]} of a compose service. */
    private static Path mountedFile(JsonNode service, String containerPath) {
        for (JsonNode volume : service.get("volumes")) {
            String[] parts = volume.asText().split(":");
            if (parts.length >= 2 && parts[1].equals(containerPath)) {
                Path host = DEPLOY.resolve(parts[0]).normalize();
                assertTrue(Files.exists(host), host.toString());
                return host;
            }
        }
        throw new AssertionError("no bind mount at " + containerPath + " in " + service);
    }

    @Test
    void imageBuildsInTwoStagesAndRunsAsNonRootWithAHealthCheck() throws IOException {
        List<String> lines = Files.readAllLines(DEPLOY.resolve("Dockerfile")).stream()
                .filter(l -> !l.isBlank() && !l.startsWith("#")).toList();
        List<String> froms = lines.stream().filter(l -> l.startsWith("FROM ")).toList();
        assertEquals(2, froms.size(), froms.toString());
        assertTrue(froms.get(0).startsWith("FROM maven:") && froms.get(0).endsWith(" AS build"), froms.get(0));
        assertTrue(froms.get(1).contains("-jre"), "a JRE, not a JDK: " + froms.get(1));
        String text = String.join("\n", lines);
        assertTrue(text.contains("mvn -B -q -DskipTests package"));
        assertTrue(text.contains("COPY --from=build /src/dist/refinery.jar"));
        String user = lines.stream().filter(l -> l.startsWith("USER ")).reduce((a, b) -> b).orElseThrow();
        assertFalse(user.endsWith(" root") || user.endsWith(" 0"), user);
        assertTrue(text.contains("VOLUME [\"/opt/refinery/plugins\""), "plugins folder as a volume");
        assertTrue(text.contains("HEALTHCHECK") && text.contains("GET /health"), "health check on /health");
        assertTrue(text.contains("/dev/tcp/127.0.0.1/8080") && text.contains("EXPOSE 8080")
                && text.contains("\"--http-port\", \"8080\"") && text.contains("\"--http-host\", \"0.0.0.0\""));
        // Every source folder the build copies exists, and every module of the reactor is copied (Maven refuses
        // a parent pom whose module folder is missing, tests compiled or not).
        Matcher copies = Pattern.compile("(?m)^COPY (?!--from)(\\S+) ").matcher(text);
        java.util.Set<String> copied = new java.util.HashSet<>();
        while (copies.find()) {
            assertTrue(Files.exists(TestModels.root().resolve(copies.group(1))), copies.group(1));
            copied.add(copies.group(1));
        }
        Matcher modules = Pattern.compile("<module>([^<]+)</module>").matcher(Files.readString(TestModels.root()
                .resolve("pom.xml")));
        while (modules.find()) {
            assertTrue(copied.contains(modules.group(1) + "/"), "the image build copies module " + modules.group(1));
        }
    }
}
