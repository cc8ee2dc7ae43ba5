package io.modelrefinery.host.kafka;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Creates the topics the service works with. Brokers here never create topics implicitly
 * ({@code auto.create.topics.enable=false}), so that a misspelt topic fails instead of silently
 * appearing; the service therefore creates its own topics at start-up, and this is idempotent so that
 * every start can do it.
 */
public final class Topics {
    private static final Logger LOG = LoggerFactory.getLogger(Topics.class);
    /** How long {@link #ensure} waits for the topics to be created and to have leaders. */
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    private Topics() {
    }

    /**
     * Creates the topics of {@code topicsToPartitions} that do not exist yet, each with its number of
     * partitions and {@code replication} replicas (the brokers' {@code default.replication.factor} when
     * empty), and waits until every one of them has a leader for
     * every partition, so that producers and consumers can use them at once. Existing topics are left
     * as they are, even with another partition count: changing a live topic is not this method's call.
     *
     * @throws KafkaException if a topic cannot be created, or the topics are not ready within a minute
     * @throws InterruptException if the thread is interrupted while waiting (the interrupt flag is set)
     */
    public static void ensure(Admin admin, Map<String, Integer> topicsToPartitions, Optional<Short> replication) {
        Objects.requireNonNull(admin, "admin");
        Objects.requireNonNull(topicsToPartitions, "topicsToPartitions");
        if (topicsToPartitions.isEmpty()) {
            return;
        }
        long deadlineNanos = System.nanoTime() + TIMEOUT.toNanos();
        List<NewTopic> newTopics = new ArrayList<>();
        topicsToPartitions.forEach((name, partitions) ->
                newTopics.add(new NewTopic(name, Optional.of(partitions), replication)));
        Map<String, KafkaFuture<Void>> created = admin.createTopics(newTopics).values();
        for (Map.Entry<String, KafkaFuture<Void>> entry : created.entrySet()) {
            try {
                entry.getValue().get(leftMs(deadlineNanos), TimeUnit.MILLISECONDS);
                LOG.info("Created topic {} with {} partitions", entry.getKey(), topicsToPartitions.get(entry.getKey()));
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw new KafkaException("Cannot create topic " + entry.getKey() + ": " + e.getCause(), e.getCause());
                }
                LOG.debug("Topic {} exists already", entry.getKey());
            } catch (TimeoutException e) {
                throw new KafkaException("Topic " + entry.getKey() + " was not created within " + TIMEOUT.toSeconds() + " s", e);
            } catch (InterruptedException e) {
                throw new InterruptException(e);
            }
        }
        awaitLeaders(admin, topicsToPartitions.keySet(), deadlineNanos);
    }

    /**
     * The controller acknowledges a creation before every broker has the new partitions; wait until
     * metadata shows a leader everywhere, or the first produce request may be refused.
     */
    private static void awaitLeaders(Admin admin, Set<String> topics, long deadlineNanos) {
        Throwable last = null;
        while (true) {
            try {
                Map<String, TopicDescription> descriptions =
                        admin.describeTopics(topics).allTopicNames().get(leftMs(deadlineNanos), TimeUnit.MILLISECONDS);
                if (descriptions.values().stream().allMatch(Topics::hasLeaders)) {
                    return;
                }
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
                    throw new KafkaException("Cannot describe topics " + topics + ": " + e.getCause(), e.getCause());
                }
                last = e.getCause();
            } catch (TimeoutException e) {
                last = e;
            } catch (InterruptedException e) {
                throw new InterruptException(e);
            }
            if (System.nanoTime() - deadlineNanos >= 0) {
                throw new KafkaException("Topics " + topics + " have no leaders after " + TIMEOUT.toSeconds() + " s", last);
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                throw new InterruptException(e);
            }
        }
    }

    private static boolean hasLeaders(TopicDescription description) {
        return description.partitions().stream().map(TopicPartitionInfo::leader).allMatch(l -> l != null && !l.isEmpty());
    }

    private static long leftMs(long deadlineNanos) {
        return Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime()));
    }
}
