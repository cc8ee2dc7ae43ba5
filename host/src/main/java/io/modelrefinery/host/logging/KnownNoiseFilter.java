package io.modelrefinery.host.logging;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.turbo.TurboFilter;
import ch.qos.logback.core.spi.FilterReply;
import org.slf4j.Marker;

import java.util.List;

/**
 * Drops the few warnings Kafka logs on every normal start and stop of an embedded broker, which say
 * nothing is wrong; every other warning of those loggers still shows.
 */
public final class KnownNoiseFilter extends TurboFilter {
    private record Noise(String logger, String messageStart) {
    }

    private static final List<Noise> NOISE = List.of(
            new Noise("org.apache.kafka.controller.QuorumController", "[QuorumController id=1] Performing controller activation"),
            new Noise("org.apache.kafka.clients.NetworkClient", "[NodeToControllerChannelManager id=1 name=registration] Attempting to close NetworkClient"));

    @Override
    public FilterReply decide(Marker marker, Logger logger, Level level, String format, Object[] params, Throwable t) {
        if (format == null || level != Level.WARN) {
            return FilterReply.NEUTRAL;
        }
        for (Noise noise : NOISE) {
            if (logger.getName().equals(noise.logger()) && format.startsWith(noise.messageStart())) {
                return FilterReply.DENY;
            }
        }
        return FilterReply.NEUTRAL;
    }
}
