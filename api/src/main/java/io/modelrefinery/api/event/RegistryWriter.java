package io.modelrefinery.api.event;

import java.util.Optional;

/**
 * Registers optimized models back in a model registry (api.event 1.2): the host asks each writer, in
 * service-ranking order, when a job's result is to be registered ({@code serve --mlflow-register}, or
 * the tag {@code refinery.register=true}). Plugins provide writers as Declarative Services components
 * ({@code @Component(service = RegistryWriter.class)}).
 *
 * <p>Writers run on worker threads and must be thread-safe. They must be idempotent by
 * {@link RegistrationRequest#jobId()}: a job run again finds the version registered before and returns
 * it. Throw {@link RegistryException} when the registry fails (retriable when a retry could pass) and
 * {@link io.modelrefinery.api.InvalidInputException} when the registry refuses the request for good.
 */
public interface RegistryWriter {

    /**
     * Registers {@code request}'s model.
     *
     * @return the version it is now, or empty when this writer does not know the source's registry
     */
    Optional<RegisteredVersion> register(RegistrationRequest request, RegistryContext context);
}
