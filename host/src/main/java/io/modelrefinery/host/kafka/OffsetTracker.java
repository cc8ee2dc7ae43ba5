package io.modelrefinery.host.kafka;

import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;

/**
 * Which offsets may be committed. Records finish out of order on several workers; a partition's offset
 * advances only past records that are all done, so a crash never skips an unfinished record.
 * Used by the consumer thread only.
 */
final class OffsetTracker {
    private final Map<TopicPartition, PartitionState> partitions = new HashMap<>();

    private static final class PartitionState {
        final TreeSet<Long> unfinished = new TreeSet<>();
        long next = -1; // one past the highest offset seen
        long committed = -1;
    }

    void started(TopicPartition partition, long offset) {
        PartitionState state = partitions.computeIfAbsent(partition, p -> new PartitionState());
        state.unfinished.add(offset);
        state.next = Math.max(state.next, offset + 1);
    }

    /** Marks a record done; ignored for partitions this consumer no longer owns. */
    void finished(TopicPartition partition, long offset) {
        PartitionState state = partitions.get(partition);
        if (state != null) {
            state.unfinished.remove(offset);
        }
    }

    /** Offsets to commit now: for each partition, the first unfinished record, if that moved. */
    Map<TopicPartition, OffsetAndMetadata> committable() {
        Map<TopicPartition, OffsetAndMetadata> out = new HashMap<>();
        for (Map.Entry<TopicPartition, PartitionState> e : partitions.entrySet()) {
            PartitionState state = e.getValue();
            long upTo = state.unfinished.isEmpty() ? state.next : state.unfinished.first();
            if (upTo > state.committed && upTo >= 0) {
                out.put(e.getKey(), new OffsetAndMetadata(upTo));
            }
        }
        return out;
    }

    /** Records that {@code offsets} were committed. */
    void committed(Map<TopicPartition, OffsetAndMetadata> offsets) {
        offsets.forEach((partition, offset) -> {
            PartitionState state = partitions.get(partition);
            if (state != null) {
                state.committed = Math.max(state.committed, offset.offset());
            }
        });
    }

    /** Forgets partitions taken away by a rebalance. */
    void revoked(Collection<TopicPartition> revoked) {
        revoked.forEach(partitions::remove);
    }

    /** Number of records started and not finished. */
    int unfinished() {
        int n = 0;
        for (PartitionState state : partitions.values()) {
            n += state.unfinished.size();
        }
        return n;
    }
}
