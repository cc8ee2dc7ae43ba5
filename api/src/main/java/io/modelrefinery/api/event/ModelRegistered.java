package io.modelrefinery.api.event;

import java.util.Map;
import java.util.Objects;

/**
 * The data of a {@code model.registered} event: which model to optimize and how.
 *
 * @param name registered model name (also the Kafka record key)
 * @param version registered version
 * @param uri where the model file is: {@code file:} (under an artifact root) or {@code http(s):}; other
 *     schemes, or {@code null}, go through {@link ArtifactResolver}s
 * @param format {@code onnx}, {@code keras} or {@code tflite}; {@code null} to infer from the file
 * @param pipeline pipeline spec; {@code null} for the host's default
 * @param calibrationUri calibration samples (.npz/.npy), or {@code null}
 * @param evalUri evaluation samples, or {@code null}
 * @param trainUri training samples, or {@code null}
 * @param source the registry the event came from (the CloudEvent {@code source}), for resolvers
 * @param tags the registry's tags or properties of the model version, for resolvers
 */
public record ModelRegistered(String name, String version, String uri, String format, String pipeline,
                              String calibrationUri, String evalUri, String trainUri, String source,
                              Map<String, String> tags) {
    public ModelRegistered {
        tags = tags == null ? Map.of() : Map.copyOf(tags);
    }

    /** The event with its artifact URI set, as a resolver found it. */
    public ModelRegistered withUri(String resolvedUri) {
        return new ModelRegistered(name, version, Objects.requireNonNull(resolvedUri, "resolvedUri"), format, pipeline,
                calibrationUri, evalUri, trainUri, source, tags);
    }

    public ModelRef model() {
        return new ModelRef(name, version);
    }
}
