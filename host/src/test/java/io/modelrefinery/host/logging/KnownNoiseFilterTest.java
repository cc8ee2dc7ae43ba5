package io.modelrefinery.host.logging;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.core.spi.FilterReply;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class KnownNoiseFilterTest {
    private final LoggerContext context = new LoggerContext();
    private final KnownNoiseFilter filter = new KnownNoiseFilter();

    @Test
    void dropsOnlyTheKnownHarmlessWarnings() {
        var controller = context.getLogger("org.apache.kafka.controller.QuorumController");
        var network = context.getLogger("org.apache.kafka.clients.NetworkClient");

        assertEquals(FilterReply.DENY, filter.decide(null, controller, Level.WARN,
                "[QuorumController id=1] Performing controller activation. The metadata log appears to be empty.", null, null));
        assertEquals(FilterReply.NEUTRAL, filter.decide(null, controller, Level.WARN, "[QuorumController id=1] Fenced",
                null, null));
        assertEquals(FilterReply.NEUTRAL, filter.decide(null, network, Level.WARN,
                "[Consumer clientId=c] Connection to node 1 could not be established.", null, null));
        assertEquals(FilterReply.NEUTRAL, filter.decide(null, controller, Level.ERROR,
                "[QuorumController id=1] Performing controller activation", null, null));
    }
}
