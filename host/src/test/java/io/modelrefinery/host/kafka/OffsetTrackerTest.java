package io.modelrefinery.host.kafka;

import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

class OffsetTrackerTest {
    private static final TopicPartition P0 = new TopicPartition("t", 0);
    private static final TopicPartition P1 = new TopicPartition("t", 1);

    @Test
    void commitsOnlyPastRecordsThatAreAllDone() {
        OffsetTracker tracker = new OffsetTracker();
        for (long offset = 10; offset < 14; offset++) {
            tracker.started(P0, offset);
        }
        tracker.finished(P0, 11);
        tracker.finished(P0, 12);

        assertEquals(Map.of(P0, new OffsetAndMetadata(10)), tracker.committable());
        tracker.committed(tracker.committable());
        assertEquals(Map.of(), tracker.committable(), "nothing new to commit");

        tracker.finished(P0, 10);
        assertEquals(Map.of(P0, new OffsetAndMetadata(13)), tracker.committable());
        tracker.finished(P0, 13);
        assertEquals(Map.of(P0, new OffsetAndMetadata(14)), tracker.committable());
        assertEquals(0, tracker.unfinished());
    }

    @Test
    void partitionsAreIndependentAndRevokedOnesForgotten() {
        OffsetTracker tracker = new OffsetTracker();
        tracker.started(P0, 0);
        tracker.started(P1, 5);
        tracker.finished(P1, 5);

        assertEquals(Map.of(P0, new OffsetAndMetadata(0), P1, new OffsetAndMetadata(6)), tracker.committable());
        tracker.revoked(List.of(P0));
        tracker.finished(P0, 0); // finishing after losing the partition changes nothing
        assertEquals(Map.of(P1, new OffsetAndMetadata(6)), tracker.committable());
    }
}
