package io.modelrefinery.host.kafka;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A real broker in this JVM: clients work against it, and its data and offsets survive a restart. */
class EmbeddedKafkaBrokerTest {
    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafkaBrokerTest.class);
    private static final String TOPIC = "models";
    private static final String GROUP = "optimizers";
    private static final int RECORDS = 10;

    @TempDir
    Path dataDir;

    @Test
    void recordsAndCommittedOffsetsSurviveARestart() throws Exception {
        Set<String> sent = new TreeSet<>();
        String clusterId;
        long coldNanos = System.nanoTime();
        EmbeddedKafkaBroker first = EmbeddedKafkaBroker.start(dataDir, 0);
        coldNanos = System.nanoTime() - coldNanos;
        try (EmbeddedKafkaBroker broker = first) {
            assertTrue(broker.bootstrapServers().startsWith("127.0.0.1:"), broker.bootstrapServers());
            assertNotEquals("127.0.0.1:0", broker.bootstrapServers());
            assertEquals(dataDir.toAbsolutePath().normalize(), broker.dataDir());
            assertTrue(Files.isRegularFile(dataDir.resolve("meta.properties")), "the format step wrote meta.properties");

            try (Admin admin = admin(broker)) {
                clusterId = admin.describeCluster().clusterId().get(30, TimeUnit.SECONDS);
                Topics.ensure(admin, Map.of(TOPIC, 2), Optional.of((short) 1));
                // A second call finds the topic and leaves it alone.
                Topics.ensure(admin, Map.of(TOPIC, 5), Optional.of((short) 1));
                TopicDescription topic = admin.describeTopics(Set.of(TOPIC)).allTopicNames().get().get(TOPIC);
                assertEquals(2, topic.partitions().size());
            }

            try (KafkaProducer<String, String> producer = producer(broker)) {
                for (int i = 0; i < RECORDS; i++) {
                    String value = "model-" + i;
                    producer.send(new ProducerRecord<>(TOPIC, "key-" + i, value)).get(30, TimeUnit.SECONDS);
                    sent.add(value);
                }
            }

            try (KafkaConsumer<String, String> consumer = consumer(broker, GROUP)) {
                consumer.subscribe(List.of(TOPIC));
                List<ConsumerRecord<String, String>> received = poll(consumer, RECORDS);
                consumer.commitSync(Duration.ofSeconds(30));
                assertEquals(sent, values(received));
                assertEquals(2, received.stream().map(ConsumerRecord::partition).distinct().count(),
                        "ten keys spread over both partitions");
            }
        }
        first.close(); // a second close does nothing

        long warmNanos = System.nanoTime();
        try (EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.start(dataDir, 0)) {
            warmNanos = System.nanoTime() - warmNanos;
            LOG.info("Embedded broker start: cold {} ms, restart {} ms",
                    TimeUnit.NANOSECONDS.toMillis(coldNanos), TimeUnit.NANOSECONDS.toMillis(warmNanos));

            try (Admin admin = admin(broker)) {
                assertEquals(clusterId, admin.describeCluster().clusterId().get(30, TimeUnit.SECONDS),
                        "the restart kept the formatted log rather than formatting again");
                Map<TopicPartition, OffsetAndMetadata> committed =
                        admin.listConsumerGroupOffsets(GROUP).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
                assertEquals(Set.of(new TopicPartition(TOPIC, 0), new TopicPartition(TOPIC, 1)), committed.keySet());
                assertEquals(RECORDS, committed.values().stream().mapToLong(OffsetAndMetadata::offset).sum(),
                        "the group's committed offsets cover all ten records");
            }

            try (KafkaConsumer<String, String> consumer = consumer(broker, null)) {
                List<TopicPartition> partitions = List.of(new TopicPartition(TOPIC, 0), new TopicPartition(TOPIC, 1));
                consumer.assign(partitions);
                consumer.seekToBeginning(partitions);
                assertEquals(sent, values(poll(consumer, RECORDS)));
            }
        }
    }

    @Test
    void aPortInUseFailsClearly() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
            int port = taken.getLocalPort();
            BrokerStartException e = assertThrows(BrokerStartException.class,
                    () -> EmbeddedKafkaBroker.start(dataDir, port).close());
            assertTrue(e.getMessage().contains("127.0.0.1:" + port + " is already in use"), e.getMessage());
            assertFalse(Files.exists(dataDir.resolve("meta.properties")), "nothing formatted for a start that failed");
        }
    }

    @Test
    void anUnusableDataFolderFailsClearly() throws Exception {
        Path file = Files.writeString(dataDir.resolve("not-a-folder"), "x");
        BrokerStartException e = assertThrows(BrokerStartException.class,
                () -> EmbeddedKafkaBroker.start(file.resolve("kafka"), 0).close());
        assertTrue(e.getMessage().startsWith("Cannot create the Kafka data folder"), e.getMessage());
    }

    private static Admin admin(EmbeddedKafkaBroker broker) {
        return Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers()));
    }

    private static KafkaProducer<String, String> producer(EmbeddedKafkaBroker broker) {
        return new KafkaProducer<>(Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers(),
                ProducerConfig.ACKS_CONFIG, "all",
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true),
                new StringSerializer(), new StringSerializer());
    }

    /** A consumer in {@code group} with manual commits, or without a group for assigned partitions. */
    private static KafkaConsumer<String, String> consumer(EmbeddedKafkaBroker broker, String group) {
        Map<String, Object> props = new HashMap<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers(),
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false));
        if (group != null) {
            props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        }
        return new KafkaConsumer<>(props, new StringDeserializer(), new StringDeserializer());
    }

    private static List<ConsumerRecord<String, String>> poll(KafkaConsumer<String, String> consumer, int count) {
        List<ConsumerRecord<String, String>> received = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (received.size() < count && System.nanoTime() < deadline) {
            consumer.poll(Duration.ofMillis(200)).forEach(received::add);
        }
        assertEquals(count, received.size(), "records received within 30 s");
        assertFalse(consumer.poll(Duration.ofMillis(200)).iterator().hasNext(), "no more records than were sent");
        return received;
    }

    private static Set<String> values(List<ConsumerRecord<String, String>> records) {
        return records.stream().map(ConsumerRecord::value).collect(Collectors.toCollection(TreeSet::new));
    }
}
