package io.modelrefinery.api.event;

import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;

/**
 * An optimized model to register back in the registry its original came from.
 *
 * @param jobId the job's deterministic id: a writer finds the version it registered for a job by it, so
 *     that a job run again (redelivered, or after a restart) registers nothing twice
 * @param source the registration that started the job
 * @param modelFile the optimized ONNX model, in the host's artifact store (read it, never change it)
 * @param report the job's report
 * @param reportJson the report as the host writes it (JSON), to keep next to the model
 * @param targetName the registered model to add the version to (default: the source's name)
 * @param alias an alias to point at the new version, or {@code null}
 * @param tags tags the new version must carry, {@code refinery.job-id} among them; the host recognises
 *     its own results by them and does not optimize them again
 */
public record RegistrationRequest(String jobId, ModelRegistered source, Path modelFile, JobReport report,
                                  byte[] reportJson, String targetName, String alias, Map<String, String> tags) {
    public RegistrationRequest {
        Objects.requireNonNull(jobId, "jobId");
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(modelFile, "modelFile");
        Objects.requireNonNull(targetName, "targetName");
        tags = Map.copyOf(tags);
    }
}
