package io.modelrefinery.host.kafka;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The consumer group's lag on the registered topic as the broker sees it: for every partition, its end
 * offset minus the group's committed offset (its earliest offset when the group has committed none, as the
 * consumer starts from the earliest record). That is the number KEDA's Kafka scaler scales on; it counts
 * records waiting, queued and running on every instance of the group, so every instance reports the same
 * value. The consumer's own {@code records-lag} counts from its fetch position and stops moving while its
 * partitions are paused (all workers busy), exactly when the backlog grows.
 *
 * <p>Measured on a daemon thread of its own every {@code interval} (never on the scrape, which must not
 * wait for the broker). Published as the gauge {@code refinery_consumer_group_lag{group,topic}}; it is NaN
 * until the first measurement and after one fails. Close it to stop measuring.
 */
public final class ConsumerGroupLag implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ConsumerGroupLag.class);
    private static final Duration CALL_TIMEOUT = Duration.ofSeconds(10);

    private final Admin admin;
    private final String groupId;
    private final String topic;
    private final ScheduledExecutorService scheduler;
    private volatile double lag = Double.NaN;

    /**
     * @param settings the cluster, group and topics; its client overrides (TLS, SASL) apply
     * @param clientId the admin client's id
     */
    public ConsumerGroupLag(KafkaSettings settings, String clientId) {
        this.admin = Admin.create(settings.admin(clientId));
        this.groupId = settings.groupId();
        this.topic = settings.topics().registered();
        this.scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "refinery-group-lag");
            t.setDaemon(true);
            return t;
        });
    }

    /** Publishes the gauge to {@code registry}. */
    public void bindMetrics(MeterRegistry registry) {
        Gauge.builder("refinery.consumer.group.lag", this, ConsumerGroupLag::lag)
                .description("Records of the registered topic not yet committed by the consumer group (KEDA's lag)")
                .tag("group", groupId).tag("topic", topic).register(registry);
    }

    /**
     * Measures every {@code interval}, the first time one interval from now: by then the service's consumer
     * has joined its group. (Asking for the group's offsets while the consumer first looks for its
     * coordinator makes the broker create its offsets topic twice over, and log a warning about it.)
     */
    public void start(Duration interval) {
        scheduler.scheduleWithFixedDelay(this::refresh, interval.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The last measurement; NaN before the first one and after one failed. */
    public double lag() {
        return lag;
    }

    private void refresh() {
        try {
            lag = measure();
        } catch (Exception e) {
            lag = Double.NaN;
            LOG.debug("consumer group lag not measured: {}", e.toString());
        }
    }

    /** Asks the broker for the group's lag on the topic, summed over its partitions. */
    public long measure() throws Exception {
        TopicDescription description = admin.describeTopics(List.of(topic)).allTopicNames()
                .get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).get(topic);
        Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
        Map<TopicPartition, OffsetSpec> earliest = new HashMap<>();
        description.partitions().forEach(p -> {
            latest.put(new TopicPartition(topic, p.partition()), OffsetSpec.latest());
            earliest.put(new TopicPartition(topic, p.partition()), OffsetSpec.earliest());
        });
        Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(groupId)
                .partitionsToOffsetAndMetadata().get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        var ends = admin.listOffsets(latest).all().get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        var starts = admin.listOffsets(earliest).all().get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        long total = 0;
        for (TopicPartition tp : latest.keySet()) {
            OffsetAndMetadata done = committed.get(tp);
            long start = starts.get(tp).offset(); // records below it are deleted and cannot be consumed
            long from = done != null ? Math.max(done.offset(), start) : start;
            total += Math.max(0, ends.get(tp).offset() - from);
        }
        return total;
    }

    @Override
    public void close() {
        scheduler.shutdownNow();
        try {
            scheduler.awaitTermination(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        admin.close(Duration.ofSeconds(5));
    }
}
