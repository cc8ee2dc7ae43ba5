package io.modelrefinery.host.pipeline;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One step as written in a pipeline spec: a transform id and its parameters, unparsed.
 *
 * @param transformId the transform, for example {@code quantize-static}
 * @param params parameter names to values as written, in order
 */
public record StepSpec(String transformId, Map<String, String> params) {
    public StepSpec {
        params = Collections.unmodifiableMap(new LinkedHashMap<>(params));
    }

    @Override
    public String toString() {
        if (params.isEmpty()) {
            return transformId;
        }
        StringBuilder sb = new StringBuilder(transformId).append('(');
        params.forEach((k, v) -> sb.append(k).append('=').append(v).append(','));
        sb.setLength(sb.length() - 1);
        return sb.append(')').toString();
    }
}
