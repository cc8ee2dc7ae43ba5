package io.modelrefinery.host.event;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelrefinery.api.event.EventTypes;
import io.modelrefinery.api.event.JobReport;
import io.modelrefinery.api.event.ModelFailed;
import io.modelrefinery.api.event.ModelRef;
import io.modelrefinery.api.event.ModelRegistered;

import java.time.Instant;

/**
 * The events the refinery emits. Ids are deterministic (job id plus outcome), so a consumer that sees
 * one twice, after a redelivery, can tell.
 */
public final class OutcomeEvents {
    /** The {@code source} of every event the refinery emits. */
    public static final String SOURCE = "/model-refinery";

    private OutcomeEvents() {
    }

    public static CloudEvent optimized(JobReport report, Instant time) {
        return new CloudEvent(report.jobId() + "/optimized", SOURCE, EventTypes.MODEL_OPTIMIZED, time.toString(),
                subject(report.model()), EventJson.tree(report));
    }

    /**
     * @param eventKey deterministic key of the failed input: the job id when known, else where the record
     *     was read (topic/partition/offset)
     */
    public static CloudEvent failed(ModelFailed failure, String eventKey, Instant time) {
        return new CloudEvent(eventKey + "/failed", SOURCE, EventTypes.MODEL_FAILED, time.toString(),
                failure.model() == null ? null : subject(failure.model()), EventJson.tree(failure));
    }

    /** A {@code model.registered} event for {@code registered}, as {@code POST /models} publishes it. */
    public static CloudEvent registered(ModelRegistered registered, String id, Instant time) {
        ObjectNode data = (ObjectNode) EventJson.tree(registered);
        data.remove("source"); // the envelope's source says who registered it
        return new CloudEvent(id, SOURCE, EventTypes.MODEL_REGISTERED, time.toString(), subject(registered.model()), data);
    }

    private static String subject(ModelRef model) {
        return model.name() + ":" + model.version();
    }
}
