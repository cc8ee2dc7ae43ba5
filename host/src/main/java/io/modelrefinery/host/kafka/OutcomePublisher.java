package io.modelrefinery.host.kafka;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import io.modelrefinery.host.event.CloudEvent;
import io.modelrefinery.host.event.CloudEventCodec;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Writes events to Kafka with an idempotent producer acknowledged by all in-sync replicas. Thread-safe;
 * sends never block the caller (the future completes on the producer's I/O thread).
 */
public final class OutcomePublisher implements AutoCloseable {
    private final Producer<byte[], byte[]> producer;
    private KafkaClientMetrics metrics;

    public OutcomePublisher(KafkaSettings settings, String clientId) {
        this.producer = new KafkaProducer<>(settings.producer(clientId));
    }

    /** Sends an event in structured mode, keyed by {@code key} (the model name). */
    public CompletableFuture<RecordMetadata> publish(String topic, String key, CloudEvent event) {
        List<Header> headers = new ArrayList<>();
        headers.add(new RecordHeader("content-type", CloudEvent.STRUCTURED_CONTENT_TYPE.getBytes(StandardCharsets.UTF_8)));
        return send(topic, key == null ? null : key.getBytes(StandardCharsets.UTF_8), CloudEventCodec.encode(event), headers);
    }

    /** Sends a record as given. */
    public CompletableFuture<RecordMetadata> send(String topic, byte[] key, byte[] value, Iterable<Header> headers) {
        CompletableFuture<RecordMetadata> done = new CompletableFuture<>();
        try {
            producer.send(new ProducerRecord<>(topic, null, key, value, headers), (metadata, error) -> {
                if (error != null) {
                    done.completeExceptionally(error);
                } else {
                    done.complete(metadata);
                }
            });
        } catch (RuntimeException e) {
            done.completeExceptionally(e);
        }
        return done;
    }

    /** Publishes the producer's metrics (send rates, errors, latencies) to {@code registry}. */
    public void bindMetrics(MeterRegistry registry) {
        metrics = new KafkaClientMetrics(producer);
        metrics.bindTo(registry);
    }

    @Override
    public void close() {
        if (metrics != null) {
            metrics.close();
        }
        producer.close();
    }
}
