package io.modelrefinery.api.event;

import java.nio.file.Path;
import java.util.Optional;

/**
 * What the host lends an {@link ArtifactResolver} or a {@link RegistryWriter} for one job: the
 * operator's registry settings, HTTP within the host's artifact policy, and a folder for the job's
 * files. The host implements it; plugins only call it (api.event 1.2).
 */
public interface RegistryContext {

    /**
     * A registry setting the operator gave the host, by the name a registry's own clients read it under
     * (for MLflow: {@code MLFLOW_TRACKING_URI}, {@code MLFLOW_TRACKING_TOKEN},
     * {@code MLFLOW_TRACKING_USERNAME}, {@code MLFLOW_TRACKING_PASSWORD}), from a {@code serve} option or
     * the environment. A secret read from a file is read again on each call, so a rotated token is used
     * without a restart. Values that are credentials must never be logged or put into a message.
     *
     * @return the value, or empty when the setting is not given (blank counts as not given)
     */
    Optional<String> setting(String name);

    /** HTTP to the registry, with the host's limits: allowed hosts, private addresses, size caps, timeouts. */
    RegistryHttp http();

    /** An empty folder of this job's that the host deletes after the job: where downloads go. */
    Path workDirectory();
}
