package io.modelrefinery.host.kafka;

import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The group's lag as KEDA sees it, measured against a real broker. */
class ConsumerGroupLagTest {
    @TempDir
    Path dataDir;

    @Test
    void lagIsEndOffsetsMinusCommittedOffsetsAndFollowsCommits() throws Exception {
        try (EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.start(dataDir, 0)) {
            EventTopics topics = new EventTopics("lag.registered", "lag.optimized", "lag.failed", "lag.dlq");
            KafkaSettings settings = new KafkaSettings(broker.bootstrapServers(), "lag-group", topics, 2, Map.of());
            try (Admin admin = Admin.create(settings.admin("test-admin"));
                 KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(settings.producer("test-producer"));
                 ConsumerGroupLag lag = new ConsumerGroupLag(settings, "test-lag")) {
                Topics.ensure(admin, Map.of(topics.registered(), 2), Optional.of((short) 1));
                PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
                lag.bindMetrics(registry);
                assertTrue(Double.isNaN(lag.lag()), "nothing measured yet");
                assertEquals(0, lag.measure(), "an empty topic");

                for (int i = 0; i < 5; i++) { // three records on partition 0, two on partition 1
                    producer.send(new ProducerRecord<>(topics.registered(), i < 3 ? 0 : 1, null,
                            ("r" + i).getBytes(StandardCharsets.UTF_8))).get(30, TimeUnit.SECONDS);
                }
                assertEquals(5, lag.measure(), "a group that committed nothing has everything ahead of it");

                admin.alterConsumerGroupOffsets("lag-group", Map.of(
                        new TopicPartition(topics.registered(), 0), new OffsetAndMetadata(2))).all().get(30, TimeUnit.SECONDS);
                assertEquals(1 + 2, lag.measure());

                lag.start(Duration.ofMillis(100));
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (lag.lag() != 3.0 && System.nanoTime() < deadline) {
                    Thread.sleep(50);
                }
                assertEquals(3.0, lag.lag(), "measured on its own thread");
                assertTrue(registry.scrape().contains(
                        "refinery_consumer_group_lag{group=\"lag-group\",topic=\"lag.registered\"} 3.0"), registry.scrape());
            }
        }
    }
}
