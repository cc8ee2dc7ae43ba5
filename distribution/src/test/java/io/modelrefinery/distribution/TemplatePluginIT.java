package io.modelrefinery.distribution;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelrefinery.api.AtomicFiles;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.host.kafka.EventTopics;
import io.modelrefinery.host.service.RefineryService;
import io.modelrefinery.host.service.ServiceConfig;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The third-party plugin template, as its author would use it: copied out of the tree, built on its own by
 * Maven against the installed api (its tests run the conformance kit), and its jar dropped into the plugins
 * folder of a running host, whose next pipeline uses the new transform, without a restart.
 *
 * <p>The child build runs offline ({@code -o}) on the local repository of this build, so that it needs
 * nothing beyond what this build already downloaded. {@code mvn verify} does not install, so the api, host,
 * test kit and parent pom are first put into that repository from this build's {@code target/} folders, laid
 * out as {@code mvn install} would lay them out (the install plugin itself may not be downloaded yet).
 */
class TemplatePluginIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @TempDir
    Path dir;

    private static Path root() {
        return Path.of(System.getProperty("refinery.root"));
    }

    private static String version() {
        return System.getProperty("refinery.version");
    }

    @Test
    void theTemplateBuildsOnItsOwnAndItsTransformRunsInARunningHostWithoutARestart() throws Exception {
        Path project = copyTemplate(dir.resolve("round-weights"));
        Path repo = Path.of(System.getProperty("refinery.localRepository"));
        installIntoLocalRepository(repo);

        Path jar = build(project, repo);

        Path plugins = Files.createDirectories(dir.resolve("plugins"));
        ServiceConfig config = ServiceConfig.builder(dir.resolve("data"), plugins)
                .kafkaPort(0).http("127.0.0.1", 0).topics(EventTopics.defaults(), 1).build();
        try (RefineryService service = RefineryService.start(config)) {
            assertTrue(service.plugins().registry().descriptor("round-weights").isEmpty());
            Path model = Files.copy(TestModels.sampleCnnFile(), config.artifactRoots().get(0).resolve("cnn.onnx"));

            // Dropped in the recommended way: copied under a hidden name, then renamed into place.
            Path hidden = plugins.resolve(".round-weights.jar.part");
            Files.copy(jar, hidden);
            Files.move(hidden, plugins.resolve("round-weights.jar"), StandardCopyOption.ATOMIC_MOVE);
            JsonNode plugin = awaitActive(service, "round-weights.jar");
            assertEquals("com.example.refinery.roundweights", plugin.get("bundle").asText());
            assertEquals("round-weights", plugin.at("/transforms/0/id").asText());
            assertEquals("bits", plugin.at("/transforms/0/params/0/name").asText());
            assertEquals(10, plugin.at("/transforms/0/params/0/default").asInt());

            String body = "{\"name\":\"cnn\",\"version\":\"1\",\"uri\":\"" + model.toUri()
                    + "\",\"pipeline\":\"round-weights(bits=6)\"}";
            HttpResponse<String> accepted = HTTP.send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + service.httpPort() + "/models"))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(202, accepted.statusCode(), accepted.body());
            JsonNode job = awaitJob(service, JSON.readTree(accepted.body()).get("jobId").asText());

            assertEquals("optimized", job.get("state").asText(), job.toString());
            assertEquals("round-weights", job.at("/report/steps/0/transform").asText());
            assertEquals("1.0.0", job.at("/report/steps/0/version").asText());
            assertEquals(6, job.at("/report/steps/0/params/bits").asInt());
            assertTrue(job.at("/report/output/gzipBytes").asLong() < job.at("/report/input/gzipBytes").asLong(),
                    job.at("/report").toString());
            OnnxModel output = OnnxModel.load(Path.of(URI.create(job.at("/report/output/uri").asText())));
            int checked = 0;
            for (TensorProto init : output.graph().getInitializerList()) {
                if (init.getDataType() == DataType.FLOAT.code()) {
                    for (float v : output.tensor(init).toFloatArray()) {
                        assertEquals(0, Float.floatToRawIntBits(v) & ((1 << 18) - 1), init.getName() + " keeps 6 bits");
                        checked++;
                    }
                }
            }
            assertTrue(checked > 3000, checked + " weights checked");
        }
    }

    /** The template folder without build output, as a plugin author would start from it. */
    private static Path copyTemplate(Path target) throws IOException {
        Path template = root().resolve("plugins/template");
        String pom = Files.readString(template.resolve("pom.xml"));
        if (!pom.contains("<refinery.version>" + version() + "</refinery.version>")) {
            fail("plugins/template/pom.xml must build against this version of the api: set <refinery.version>"
                    + version() + "</refinery.version>");
        }
        try (Stream<Path> files = Files.walk(template)) {
            for (Path source : files.toList()) {
                Path relative = template.relativize(source);
                if (relative.startsWith("target")) {
                    continue;
                }
                Path copy = target.resolve(relative.toString());
                if (Files.isDirectory(source)) {
                    Files.createDirectories(copy);
                } else {
                    Files.copy(source, copy);
                }
            }
        }
        return target;
    }

    /** Parent pom, api, host, test data and test kit of this build into {@code repo}, where {@code mvn install} puts them. */
    private static void installIntoLocalRepository(Path repo) throws IOException {
        install(repo, "refinery-parent", root().resolve("pom.xml"), null);
        for (String[] module : List.of(new String[] {"api", "refinery-api"}, new String[] {"host", "refinery-host"},
                new String[] {"test-data", "refinery-test-data"}, new String[] {"plugin-testkit", "refinery-plugin-testkit"})) {
            Path jar = root().resolve(module[0]).resolve("target").resolve(module[1] + "-" + version() + ".jar");
            if (!Files.isRegularFile(jar)) {
                fail(jar + " is missing: build the reactor (mvn package) before this test");
            }
            install(repo, module[1], root().resolve(module[0]).resolve("pom.xml"), jar);
        }
    }

    private static void install(Path repo, String artifactId, Path pom, Path jar) throws IOException {
        Path folder = Files.createDirectories(repo.resolve("io/modelrefinery").resolve(artifactId).resolve(version()));
        String base = artifactId + "-" + version();
        copyAtomically(pom, folder.resolve(base + ".pom"));
        if (jar != null) {
            copyAtomically(jar, folder.resolve(base + ".jar"));
        }
    }

    private static void copyAtomically(Path source, Path target) throws IOException {
        AtomicFiles.write(target, out -> Files.copy(source, out));
    }


    /** {@code mvn -o package} in {@code project}, as a child process of this build's Maven; returns the bundle. */
    private Path build(Path project, Path repo) throws IOException, InterruptedException {
        String mavenHome = System.getProperty("maven.home");
        boolean windows = System.getProperty("os.name").toLowerCase().startsWith("windows");
        String mvn = mavenHome == null || mavenHome.isBlank() ? (windows ? "mvn.cmd" : "mvn")
                : Path.of(mavenHome, "bin", windows ? "mvn.cmd" : "mvn").toString();
        List<String> command = new ArrayList<>(List.of(mvn, "-B", "-o", "-Dmaven.repo.local=" + repo, "package"));
        Path log = dir.resolve("template-build.log");
        Process process = new ProcessBuilder(command).directory(project.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        if (!process.waitFor(5, TimeUnit.MINUTES)) {
            process.destroyForcibly();
            fail("the template build took over 5 minutes:\n" + tail(log));
        }
        if (process.exitValue() != 0) {
            fail("the template build failed (" + String.join(" ", command) + "):\n" + tail(log));
        }
        String output = Files.readString(log);
        assertTrue(output.contains("Tests run: 6, Failures: 0, Errors: 0, Skipped: 0"), "its conformance tests ran:\n"
                + tail(log));
        Path jar = project.resolve("target/round-weights-1.0.0.jar");
        assertTrue(Files.isRegularFile(jar), "no " + jar + ":\n" + tail(log));
        return jar;
    }

    private static String tail(Path log) throws IOException {
        List<String> lines = Files.readAllLines(log);
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
    }

    private static JsonNode awaitActive(RefineryService service, String file) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        JsonNode last = null;
        while (System.nanoTime() < deadline) {
            for (JsonNode plugin : JSON.readTree(get(service, "/plugins"))) {
                if (plugin.get("file").asText().equals(file)) {
                    last = plugin;
                    if (plugin.get("state").asText().equals("active")) {
                        return plugin;
                    }
                }
            }
            Thread.sleep(100);
        }
        return fail("the plugin never became active: " + last);
    }

    private static JsonNode awaitJob(RefineryService service, String jobId) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        JsonNode job = null;
        while (System.nanoTime() < deadline) {
            job = JSON.readTree(get(service, "/jobs/" + jobId));
            if (job.has("state") && (job.get("state").asText().equals("optimized") || job.get("state").asText().equals("failed"))) {
                return job;
            }
            Thread.sleep(100);
        }
        return fail("the job did not finish: " + job);
    }

    private static String get(RefineryService service, String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + service.httpPort() + path)).build(),
                HttpResponse.BodyHandlers.ofString()).body();
    }
}
