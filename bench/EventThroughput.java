import io.modelrefinery.api.event.ArtifactSummary;
import io.modelrefinery.api.event.ModelRef;
import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.host.eval.ArtifactMeasurer;
import io.modelrefinery.host.event.CloudEventCodec;
import io.modelrefinery.host.event.OutcomeEvents;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.job.JobRequest;
import io.modelrefinery.host.job.JobResult;
import io.modelrefinery.host.job.JobRunner;
import io.modelrefinery.host.kafka.EventTopics;
import io.modelrefinery.host.kafka.KafkaSettings;
import io.modelrefinery.host.kafka.OutcomePublisher;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.osgi.PluginFramework;
import io.modelrefinery.host.pipeline.JobIds;
import io.modelrefinery.host.pipeline.JobListener;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.service.RefineryService;
import io.modelrefinery.host.service.ServiceConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Events per minute and event-to-outcome latency of `refinery serve` on the sample model, at 1 and 2
 * workers, beside the cost of the same pipeline run by the CLI's code in the same JVM, and the whole
 * `java -jar refinery.jar optimize` command. Prints Markdown rows for docs/benchmarks.md.
 *
 * Run from the repository root after `mvn -B package -DskipTests`: bench/event-throughput.sh [EVENTS] [PIPELINE];
 * the script passes the measured time of one `optimize` command as the third argument.
 */
public class EventThroughput {
    public static void main(String[] args) throws Exception {
        int events = args.length > 0 ? Integer.parseInt(args[0]) : 60;
        String pipeline = args.length > 1 ? args[1] : "fp16";
        double cliCommandMs = args.length > 2 ? Double.parseDouble(args[2]) : 0;
        Path root = Path.of("").toAbsolutePath();
        Path sample = root.resolve("samples/seed_cnn_binary.onnx");
        Path plugins = root.resolve("dist/plugins");
        Path work = Files.createTempDirectory("refinery-bench-");
        try {
            double cliMs = inProcessCost(sample, plugins, pipeline, work.resolve("cli"), events);
            System.out.printf(Locale.ROOT, "| CLI code in process (load, check, run, save, measure) | %s | | %.1f ms/model | | |%n",
                    pipeline, cliMs);
            for (int workers : new int[] {1, 2}) {
                double[] r = service(sample, plugins, pipeline, work.resolve("service-" + workers), events, workers);
                System.out.printf(Locale.ROOT, "| service, %d worker%s | %s | %.0f events/min | %.1f ms/model | p50 %.0f ms | p95 %.0f ms |%n",
                        workers, workers == 1 ? "" : "s", pipeline, r[0], 60_000.0 / r[0], r[1], r[2]);
                if (workers == 1) {
                    System.out.printf(Locale.ROOT, "| service at 1 worker vs the CLI code in process | | | %+.1f%% | | |%n",
                            100.0 * (60_000.0 / r[0] - cliMs) / cliMs);
                    if (cliCommandMs > 0) {
                        System.out.printf(Locale.ROOT, "| service at 1 worker vs one `optimize` command | | | %+.1f%% | | |%n",
                                100.0 * (60_000.0 / r[0] - cliCommandMs) / cliCommandMs);
                    }
                }
            }
        } finally {
            Folders.deleteQuietly(work);
        }
    }

    /** Mean time of the CLI's per-model work over {@code n} models, after a warm-up, in milliseconds. */
    static double inProcessCost(Path sample, Path plugins, String pipeline, Path work, int n) throws Exception {
        Files.createDirectories(work);
        try (PluginFramework framework = PluginFramework.start(new PluginFramework.Config(plugins, work.resolve("felix"),
                Duration.ofSeconds(1)))) {
            framework.registry().awaitSettled(Duration.ofSeconds(30));
            OrtRuntime runtime = new OrtRuntime();
            PipelineSpec spec = PipelineSpec.parse(pipeline);
            long total = 0;
            for (int i = -5; i < n; i++) {
                long start = System.nanoTime();
                String version = Integer.toString(i);
                JobRequest request = new JobRequest(JobIds.of("cnn", version, spec), new ModelRef("cnn", version),
                        sample.toUri().toString(), sample, null, spec, null, null, null, null);
                JobResult result = new JobRunner(framework.registry(), runtime.service(Device.CPU, work.resolve("ort")),
                        work.resolve("jobs")).run(request, JobListener.none(), Cancellation.never());
                Path out = work.resolve("out.onnx");
                result.output().save(out);
                ArtifactSummary summary = ArtifactMeasurer.measure(out, result.output(), result.zipName());
                if (summary.bytes() <= 0) {
                    throw new IllegalStateException("empty output");
                }
                if (i >= 0) {
                    total += System.nanoTime() - start;
                }
            }
            return total / 1e6 / n;
        }
    }

    /** {events per minute, p50 ms, p95 ms} of the service over {@code n} events, after a warm-up. */
    static double[] service(Path sample, Path plugins, String pipeline, Path data, int n, int workers) throws Exception {
        ServiceConfig config = ServiceConfig.builder(data, plugins).kafkaPort(0).http("127.0.0.1", 0).workers(workers)
                .topics(EventTopics.defaults(), 2).build();
        try (RefineryService service = RefineryService.start(config)) {
            Path model = config.artifactRoots().get(0).resolve(sample.getFileName());
            Files.copy(sample, model);
            KafkaSettings kafka = new KafkaSettings(service.bootstrapServers(), "bench", config.topics(), 2, Map.of());
            try (OutcomePublisher publisher = new OutcomePublisher(kafka, "bench-registry");
                 KafkaConsumer<byte[], byte[]> outcomes = reader(service.bootstrapServers(), config.topics().optimized())) {
                publishAll(publisher, config, model, pipeline, "warm", 3);
                collect(outcomes, 3);
                Map<String, Long> published = publishAll(publisher, config, model, pipeline, "run", n);
                long first = Collections.min(published.values());
                List<ConsumerRecord<byte[], byte[]>> done = collect(outcomes, n);
                long last = 0;
                List<Long> latencies = new ArrayList<>();
                for (ConsumerRecord<byte[], byte[]> r : done) {
                    String jobId = CloudEventCodec.decode(r.value(), Map.of()).data().get("jobId").asText();
                    latencies.add(r.timestamp() - published.get(jobId));
                    last = Math.max(last, r.timestamp());
                }
                Collections.sort(latencies);
                double perMinute = n * 60_000.0 / (last - first);
                return new double[] {perMinute, latencies.get(latencies.size() / 2),
                        latencies.get((int) Math.ceil(latencies.size() * 0.95) - 1)};
            }
        }
    }

    static Map<String, Long> publishAll(OutcomePublisher publisher, ServiceConfig config, Path model, String pipeline,
                                        String prefix, int n) throws Exception {
        Map<String, Long> published = new HashMap<>();
        PipelineSpec spec = PipelineSpec.parse(pipeline);
        for (int i = 0; i < n; i++) {
            ModelRegistered registered = new ModelRegistered("cnn", prefix + "-" + i, model.toUri().toString(), null,
                    pipeline, null, null, null, null, Map.of());
            var metadata = publisher.publish(config.topics().registered(), "cnn-" + i,
                    OutcomeEvents.registered(registered, prefix + "-" + i, Instant.now())).get();
            published.put(JobIds.of("cnn", prefix + "-" + i, spec), metadata.timestamp());
        }
        return published;
    }

    static KafkaConsumer<byte[], byte[]> reader(String servers, String topic) {
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, servers,
                ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class,
                ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class));
        List<TopicPartition> partitions = consumer.partitionsFor(topic).stream()
                .map(p -> new TopicPartition(topic, p.partition())).toList();
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
        return consumer;
    }

    static List<ConsumerRecord<byte[], byte[]>> collect(KafkaConsumer<byte[], byte[]> consumer, int n) {
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        long deadline = System.nanoTime() + Duration.ofMinutes(10).toNanos();
        while (out.size() < n) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("only " + out.size() + " of " + n + " outcomes arrived");
            }
            consumer.poll(Duration.ofMillis(100)).forEach(out::add);
        }
        return out;
    }
}
