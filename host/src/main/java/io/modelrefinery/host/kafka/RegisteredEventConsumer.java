package io.modelrefinery.host.kafka;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.kafka.KafkaClientMetrics;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Reads {@code model.registered} records and hands each to a bounded pool of workers.
 *
 * <ul>
 *   <li>One thread owns the {@link KafkaConsumer} (it is not thread-safe) and polls continuously, so a
 *       long job never makes this instance leave the group: while every worker is busy the partitions
 *       are paused, not starved.</li>
 *   <li>A record's offset is committed only after its handler returned, which it does once the
 *       record's outcome is acknowledged by Kafka; records finish out of order, and a partition's
 *       offset only passes records that are all done ({@link OffsetTracker}).</li>
 *   <li>On shutdown, running jobs get a grace period; whatever is unfinished is not committed and is
 *       delivered again to whichever instance owns the partition next.</li>
 * </ul>
 */
public final class RegisteredEventConsumer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(RegisteredEventConsumer.class);
    private static final Duration POLL = Duration.ofMillis(100);
    /** How long cancelled jobs get to notice before their threads are interrupted. */
    private static final Duration CANCEL_WAIT = Duration.ofSeconds(10);

    /** Processes one record to its end, outcome published and acknowledged. Must not throw. */
    @FunctionalInterface
    public interface RecordHandler {
        void handle(ConsumerRecord<byte[], byte[]> record);
    }

    private record Finished(TopicPartition partition, long offset) {
    }

    private final Consumer<byte[], byte[]> consumer;
    private final String topic;
    private final RecordHandler handler;
    private final int workers;
    private final Duration shutdownGrace;
    private final Runnable cancelRunning;
    private final int capacity;
    private final ExecutorService pool;
    private final Thread thread;
    private final OffsetTracker offsets = new OffsetTracker();
    private final ConcurrentLinkedQueue<Finished> finished = new ConcurrentLinkedQueue<>();
    private final AtomicInteger inFlight = new AtomicInteger();
    /** Partitions this instance owns now; queued records of partitions lost in a rebalance are skipped. */
    private final Set<TopicPartition> owned = ConcurrentHashMap.newKeySet();
    private volatile boolean stopping;
    private volatile long lastPollMillis;
    private volatile boolean joined;
    private KafkaClientMetrics metrics;

    /**
     * @param workers how many records are processed at once
     * @param shutdownGrace how long {@link #close()} lets running jobs finish
     * @param cancelRunning asks running jobs to stop, when the grace period is over
     */
    public RegisteredEventConsumer(KafkaSettings settings, String clientId, RecordHandler handler, int workers,
                                   Duration shutdownGrace, Runnable cancelRunning) {
        if (workers < 1) {
            throw new IllegalArgumentException("workers must be at least 1: " + workers);
        }
        // One record queued behind each running one, so that a worker never waits for the next poll.
        this.capacity = 2 * workers;
        this.consumer = new KafkaConsumer<>(settings.consumer(clientId, workers));
        this.topic = settings.topics().registered();
        this.handler = handler;
        this.workers = workers;
        this.shutdownGrace = shutdownGrace;
        this.cancelRunning = cancelRunning;
        AtomicInteger ids = new AtomicInteger();
        this.pool = Executors.newFixedThreadPool(workers, r -> {
            Thread t = new Thread(r, "refinery-worker-" + ids.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        this.thread = new Thread(this::loop, "refinery-consumer");
    }

    /** Subscribes and starts polling on its own thread. */
    public void start() {
        thread.start();
    }

    /** True once the consumer joined its group and polled within the last ten seconds. */
    public boolean healthy() {
        return joined && System.currentTimeMillis() - lastPollMillis < 10_000;
    }

    /** Records taken from Kafka and not finished yet: running or queued for a worker. */
    public int inFlight() {
        return inFlight.get();
    }

    /** Publishes the consumer's metrics (records lag, fetch rates) to {@code registry}; call before {@link #start()}. */
    public void bindMetrics(MeterRegistry registry) {
        metrics = new KafkaClientMetrics(consumer);
        metrics.bindTo(registry);
    }

    private void loop() {
        try {
            consumer.subscribe(List.of(topic), new Rebalance());
            while (!stopping) {
                ConsumerRecords<byte[], byte[]> records;
                try {
                    records = consumer.poll(POLL);
                } catch (WakeupException e) {
                    // A worker freed a slot (resume below), or close() was called (the loop condition decides).
                    records = ConsumerRecords.empty();
                }
                lastPollMillis = System.currentTimeMillis();
                for (ConsumerRecord<byte[], byte[]> record : records) {
                    offsets.started(new TopicPartition(record.topic(), record.partition()), record.offset());
                    inFlight.incrementAndGet();
                    pool.execute(() -> process(record));
                }
                if (inFlight.get() >= capacity) {
                    consumer.pause(consumer.assignment());
                } else if (!consumer.paused().isEmpty()) {
                    consumer.resume(consumer.paused());
                }
                commitFinished(false);
            }
        } catch (RuntimeException e) {
            LOG.error("consumer loop failed; this instance stops consuming", e);
        } finally {
            drain();
        }
    }

    /** Runs on a worker: one record to its end. Records still queued when the consumer stops are skipped. */
    private void process(ConsumerRecord<byte[], byte[]> record) {
        try {
            if (stopping || !owned.contains(new TopicPartition(record.topic(), record.partition()))) {
                return; // not finished, so not committed: delivered again, here after a restart or to the new owner
            }
            handler.handle(record);
            finished.add(new Finished(new TopicPartition(record.topic(), record.partition()), record.offset()));
        } catch (RuntimeException e) {
            // The handler publishes failures itself; reaching here means it could not, so the record stays
            // uncommitted and comes back after a restart.
            LOG.error("record {}/{}/{} not finished: {}", record.topic(), record.partition(), record.offset(),
                    e.toString());
        } finally {
            if (inFlight.decrementAndGet() == capacity - 1 && !stopping) {
                consumer.wakeup(); // the partitions are paused: resume them now, not at the end of the poll
            }
        }
    }

    private void commitFinished(boolean sync) {
        for (Finished f; (f = finished.poll()) != null; ) {
            offsets.finished(f.partition(), f.offset());
        }
        Map<TopicPartition, OffsetAndMetadata> commit = offsets.committable();
        if (commit.isEmpty()) {
            return;
        }
        if (sync) {
            consumer.commitSync(commit);
            offsets.committed(commit);
        } else {
            consumer.commitAsync(commit, (done, error) -> {
                if (error == null) {
                    offsets.committed(done);
                } else {
                    LOG.warn("offset commit failed, will retry: {}", error.toString());
                }
            });
        }
    }

    /** Commits what finished, synchronously; a pending wake-up from a worker is not a reason to give up. */
    private void commitNow(String when) {
        for (int attempt = 0; attempt < 2; attempt++) {
            try {
                commitFinished(true);
                return;
            } catch (WakeupException e) {
                // consumed the wake-up; try again
            } catch (RuntimeException e) {
                LOG.warn("{} offset commit failed: {}", when, e.toString());
                return;
            }
        }
    }

    /**
     * Lets running jobs finish within the grace period, then cancels the rest; commits what finished and
     * closes the consumer. Cancelled jobs publish nothing, so their records are delivered again.
     */
    private void drain() {
        pool.shutdown();
        try {
            if (!pool.awaitTermination(shutdownGrace.toMillis(), TimeUnit.MILLISECONDS)) {
                LOG.warn("{} jobs still running after {} s; cancelling them, they will be delivered again",
                        inFlight.get(), shutdownGrace.toSeconds());
                cancelRunning.run();
                if (!pool.awaitTermination(CANCEL_WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
                    pool.shutdownNow();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            pool.shutdownNow();
        }
        commitNow("final");
        if (metrics != null) {
            metrics.close();
        }
        consumer.close();
    }

    @Override
    public void close() {
        stopping = true;
        consumer.wakeup();
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private final class Rebalance implements ConsumerRebalanceListener {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            // Commit what is done before another instance takes over; records still running for these
            // partitions will be delivered to it again, and the job ids make that recognisable.
            commitNow("revocation");
            owned.removeAll(partitions);
            offsets.revoked(partitions);
            LOG.info("partitions revoked: {}", partitions);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            owned.addAll(partitions);
            joined = true;
            LOG.info("partitions assigned: {}", partitions);
        }
    }
}
