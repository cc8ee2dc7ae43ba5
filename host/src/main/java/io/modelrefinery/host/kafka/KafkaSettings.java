package io.modelrefinery.host.kafka;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * How to reach Kafka: the same settings for the embedded broker and an external cluster.
 *
 * @param bootstrapServers {@code host:port,...}
 * @param groupId the consumer group the refinery instances share
 * @param topics topic names
 * @param partitions partitions of topics the refinery creates (instances scale up to this many)
 * @param clientOverrides extra client properties passed through unchanged, for TLS and SASL
 *     ({@code security.protocol}, {@code ssl.*}, {@code sasl.*}); they apply to every client
 */
public record KafkaSettings(String bootstrapServers, String groupId, EventTopics topics, int partitions,
                            Map<String, String> clientOverrides) {
    public KafkaSettings {
        Objects.requireNonNull(bootstrapServers, "bootstrapServers");
        Objects.requireNonNull(groupId, "groupId");
        Objects.requireNonNull(topics, "topics");
        if (partitions < 1) {
            throw new IllegalArgumentException("partitions must be at least 1: " + partitions);
        }
        clientOverrides = Map.copyOf(clientOverrides);
    }

    private Map<String, Object> common(String clientId) {
        Map<String, Object> props = new HashMap<>();
        props.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        props.put(CommonClientConfigs.CLIENT_ID_CONFIG, clientId);
        props.putAll(clientOverrides);
        return props;
    }

    /**
     * A consumer that commits only what the refinery says is done, and fetches at most as many records
     * as it can work on, so that nothing waits in memory long.
     */
    public Map<String, Object> consumer(String clientId, int maxRecords) {
        Map<String, Object> props = common(clientId);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, maxRecords);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        props.putAll(clientOverrides);
        return props;
    }

    /** A producer whose sends are acknowledged by every in-sync replica and never duplicated by retries. */
    public Map<String, Object> producer(String clientId) {
        Map<String, Object> props = common(clientId);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class);
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 120_000);
        props.put(ProducerConfig.LINGER_MS_CONFIG, 0); // few, small events: send each at once
        props.putAll(clientOverrides);
        return props;
    }

    public Map<String, Object> admin(String clientId) {
        return common(clientId);
    }
}
