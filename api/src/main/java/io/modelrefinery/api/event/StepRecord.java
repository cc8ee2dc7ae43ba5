package io.modelrefinery.api.event;

import java.util.List;
import java.util.Map;

/**
 * What one step did, as the report shows it.
 *
 * @param transform transform id
 * @param version transform version
 * @param params every parameter value used, defaults included
 * @param durationMs wall time of the step
 * @param device where its inference ran
 * @param metrics numbers the transform reported
 * @param notes sentences the transform reported
 */
public record StepRecord(String transform, String version, Map<String, Object> params, long durationMs, String device,
                         Map<String, Double> metrics, List<String> notes) {
}
