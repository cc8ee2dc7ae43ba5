package io.modelrefinery.host.service;

import io.modelrefinery.api.event.EventTypes;
import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.host.event.CloudEvent;
import io.modelrefinery.host.event.CloudEventCodec;
import io.modelrefinery.host.event.OutcomeEvents;
import io.modelrefinery.host.kafka.EmbeddedKafkaBroker;
import io.modelrefinery.host.kafka.EventTopics;
import io.modelrefinery.host.osgi.TestBundles;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.host.testing.TopicReader;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Instances of the refinery against one external broker: stopped and started again mid-stream, and
 * sharing the partitions of one consumer group.
 */
class ConsumerGroupTest {
    private static final Duration WAIT = Duration.ofSeconds(90);

    @TempDir
    static Path dir;
    private static EmbeddedKafkaBroker broker;
    private static Path plugins;
    private static Path inbox;

    @BeforeAll
    static void startBroker() throws Exception {
        broker = EmbeddedKafkaBroker.start(dir.resolve("kafka"), 0);
        plugins = Files.createDirectories(dir.resolve("plugins"));
        TestBundles.drop(plugins, "versioned.jar", TestBundles.versioned("1.0.0", Map.of()));
        inbox = Files.createDirectories(dir.resolve("inbox"));
        Files.copy(TestModels.sampleCnnFile(), inbox.resolve("seed_cnn_binary.onnx"));
    }

    @AfterAll
    static void stopBroker() {
        broker.close();
    }

    private static ServiceConfig config(EventTopics topics, String dataDir, int partitions, Duration grace) {
        return ServiceConfig.builder(dir.resolve(dataDir), plugins)
                .bootstrapServers(broker.bootstrapServers()).http("127.0.0.1", 0).workers(1)
                .groupId("group-" + topics.registered()).topics(topics, partitions).artifactRoots(List.of(inbox))
                .defaultPipeline(PipelineSpec.parse("test-versioned(sleep-ms=200)"))
                .retries(1, Duration.ofMillis(10)).shutdownGrace(grace).build();
    }

    private static EventTopics topics(String prefix) {
        return new EventTopics(prefix + ".registered", prefix + ".optimized", prefix + ".failed", prefix + ".dlq");
    }

    /** Publishes registrations of versions 1..n, spread over the partitions round-robin; returns the job ids. */
    private static List<String> publish(EventTopics topics, int n, int partitions, RefineryService service)
            throws Exception {
        List<String> jobIds = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers(),
                ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class,
                ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class))) {
            for (int v = 1; v <= n; v++) {
                ModelRegistered registered = new ModelRegistered("cnn", Integer.toString(v),
                        inbox.resolve("seed_cnn_binary.onnx").toUri().toString(), null, null, null, null, null, null,
                        Map.of());
                CloudEvent event = OutcomeEvents.registered(registered, "reg-" + v, Instant.now());
                producer.send(new ProducerRecord<>(topics.registered(), v % partitions, "cnn".getBytes(StandardCharsets.UTF_8),
                        CloudEventCodec.encode(event))).get();
                jobIds.add(service.jobId(registered));
            }
        }
        return jobIds;
    }

    private static Map<String, List<CloudEvent>> outcomesByJob(List<ConsumerRecord<byte[], byte[]>> records) {
        Map<String, List<CloudEvent>> byJob = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            CloudEvent e = CloudEventCodec.decode(r.value(), Map.of());
            byJob.computeIfAbsent(e.data().get("jobId").asText(), k -> new ArrayList<>()).add(e);
        }
        return byJob;
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("timed out waiting until " + what);
            }
            Thread.sleep(50);
        }
    }

    @Test
    void stoppingMidStreamAndStartingAgainLosesNothing() throws Exception {
        EventTopics topics = topics("restart");
        int events = 12;
        List<String> expected;
        RefineryService first = RefineryService.start(config(topics, "restart-data", 2, Duration.ZERO));
        try (TopicReader reader = new TopicReader(broker.bootstrapServers(), List.of(topics.optimized()))) {
            expected = publish(topics, events, 2, first);
            reader.until(records -> records.size() >= 3, WAIT);
            first.close(); // mid-stream: the job running now is cancelled, the rest never started

            try (RefineryService second = RefineryService.start(config(topics, "restart-data", 2, Duration.ZERO))) {
                List<ConsumerRecord<byte[], byte[]>> all = reader.until(
                        records -> outcomesByJob(records).keySet().containsAll(expected), WAIT);
                Map<String, List<CloudEvent>> byJob = outcomesByJob(all);

                assertEquals(new HashSet<>(expected), byJob.keySet(), "every event has an outcome");
                for (List<CloudEvent> outcomes : byJob.values()) {
                    assertEquals(EventTypes.MODEL_OPTIMIZED, outcomes.get(0).type());
                    assertEquals(1, new HashSet<>(outcomes).size(), "a repeated outcome is the same event");
                }
                assertTrue(second.jobs().all().size() < events, "the second instance did not redo every job");
            }
        } finally {
            first.close();
        }
    }

    @Test
    void twoInstancesInOneGroupShareThePartitionsAndProcessEachEventOnce() throws Exception {
        EventTopics topics = topics("shared");
        int events = 12;
        try (RefineryService a = RefineryService.start(config(topics, "shared-a", 4, Duration.ofSeconds(30)));
             RefineryService b = RefineryService.start(config(topics, "shared-b", 4, Duration.ofSeconds(30)));
             TopicReader reader = new TopicReader(broker.bootstrapServers(), List.of(topics.optimized()))) {
            await("both instances own partitions", () -> a.health().up() && b.health().up());
            List<String> expected = publish(topics, events, 4, a);

            List<ConsumerRecord<byte[], byte[]>> all = reader.until(records -> records.size() >= events, WAIT);
            List<ConsumerRecord<byte[], byte[]>> settled = reader.settle(Duration.ofSeconds(2));

            assertEquals(events, settled.size(), "no event was processed twice");
            assertEquals(new HashSet<>(expected), outcomesByJob(all).keySet());
            Set<String> byA = new HashSet<>();
            a.jobs().all().forEach(s -> byA.add(s.jobId()));
            Set<String> byB = new HashSet<>();
            b.jobs().all().forEach(s -> byB.add(s.jobId()));
            assertTrue(!byA.isEmpty() && !byB.isEmpty(), "both instances worked: " + byA.size() + " and " + byB.size());
            assertEquals(events, byA.size() + byB.size());
        }
    }
}
