package io.modelrefinery.distribution;

import io.modelrefinery.host.event.CloudEvent;
import io.modelrefinery.host.event.CloudEventCodec;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.host.testing.TopicReader;
import org.apache.kafka.clients.consumer.ConsumerRecord;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code dist/refinery.jar serve} in a process of its own as the registry ITs run it, on free ports with its
 * embedded Kafka, and the model those ITs register.
 */
record RegistryService(Process process, int httpPort, int kafkaPort, Path logFile) {
    /** How long the service may take to become healthy, and an outcome to be published. */
    static final Duration WAIT = Duration.ofSeconds(120);
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    /**
     * Starts {@code serve} on {@code data}, writing its output to {@code log}, with {@code extra} arguments after
     * the shared ones, and returns once {@code /health} answers. The shared ones: one partition; the fp16 pipeline
     * with max-latency-ratio=2 (fp16 runs a few percent slower on a CPU, on the default latency gate's edge); two
     * retries; and the loopback address allowed as a registry host, where the test servers listen.
     */
    static RegistryService start(Path data, Path log, String... extra) throws Exception {
        int http = freePort();
        int kafka = freePort();
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-jar", Cli.dist().resolve("refinery.jar").toString(), "serve", "--data-dir", data.toString(),
                "--http-port", Integer.toString(http), "--kafka-port", Integer.toString(kafka), "--partitions", "1",
                "--pipeline", "fp16", "--gate", "max-latency-ratio=2", "--retries", "2",
                "--allow-private-host", "127.0.0.1"));
        command.addAll(List.of(extra));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().remove("REFINERY_PLUGINS_DIR");
        RegistryService service = new RegistryService(builder.start(), http, kafka, log);
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (true) {
            assertTrue(service.process.isAlive(), "serve exited: " + service.log());
            try {
                if (HTTP.send(HttpRequest.newBuilder(service.uri("/health")).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return service;
                }
            } catch (IOException e) {
                // not listening yet
            }
            assertTrue(System.nanoTime() < deadline, "serve did not become healthy: " + service.log());
            Thread.sleep(250);
        }
    }

    /** A port nothing listens on now. */
    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    /** The sample CNN as mlflow.onnx.save_model lays it out (plugins/mlflow/src/test/fixtures), by file name. */
    static Map<String, byte[]> mlflowOnnxModel() throws IOException {
        Map<String, byte[]> files = new TreeMap<>();
        try (Stream<Path> list = Files.list(TestModels.root().resolve("plugins/mlflow/src/test/fixtures/mlflow-onnx-model"))) {
            for (Path f : list.toList()) {
                files.put(f.getFileName().toString(), Files.readAllBytes(f));
            }
        }
        return files;
    }

    /** {@code pathAndQuery} on the service's HTTP port. */
    URI uri(String pathAndQuery) {
        return URI.create("http://127.0.0.1:" + httpPort + pathAndQuery);
    }

    String bootstrap() {
        return "127.0.0.1:" + kafkaPort;
    }

    /** The outcome events (optimized and failed) of {@code jobId}, in order, once {@code count} of them are there. */
    List<CloudEvent> outcomes(String jobId, int count) {
        try (TopicReader reader = new TopicReader(bootstrap(), List.of("refinery.model.optimized",
                "refinery.model.failed"))) {
            return of(reader.until(rs -> of(rs, jobId).size() >= count, WAIT), jobId);
        }
    }

    private static List<CloudEvent> of(List<ConsumerRecord<byte[], byte[]>> records, String jobId) {
        List<CloudEvent> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            CloudEvent e = CloudEventCodec.decode(r.value(), Map.of());
            if (jobId.equals(e.data().path("jobId").asText())) {
                out.add(e);
            }
        }
        return out;
    }

    /** What the service wrote so far. */
    String log() {
        try {
            return Files.readString(logFile);
        } catch (IOException e) {
            return e.toString();
        }
    }

    void stop() throws InterruptedException {
        process.destroy(); // SIGTERM: the shutdown hook lets running jobs finish
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
    }
}
