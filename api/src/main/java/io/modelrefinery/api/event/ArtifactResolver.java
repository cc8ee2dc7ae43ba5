package io.modelrefinery.api.event;

import java.net.URI;
import java.util.Optional;

/**
 * Finds the artifact of a registered model whose event carries no fetchable URI: registries such as
 * Azure Machine Learning name a model without saying where its file is, and MLflow names it
 * {@code models:/...}. Plugins provide resolvers as Declarative Services components
 * ({@code @Component(service = ArtifactResolver.class)}); the host asks each until one answers.
 *
 * <p>A resolver overrides one of the two methods: {@link #resolve(ModelRegistered, RegistryContext)}
 * (api.event 1.2), which can call the registry through the host and download the model itself, or
 * {@link #resolve(ModelRegistered)}, which only names a {@code file:} or {@code http(s):} URI.
 *
 * <p>Resolvers run on worker threads and may do I/O; they must be thread-safe.
 */
public interface ArtifactResolver {

    /**
     * Where the model is, or empty when this resolver does not know the event's registry. The default
     * asks {@link #resolve(ModelRegistered)}.
     *
     * @throws io.modelrefinery.api.InvalidInputException if it knows the registry but not the model, or the
     *     model is in a form the refinery cannot read (the job fails at once)
     * @throws RegistryException if the registry could not be asked (retried when retriable)
     */
    default Optional<ResolvedArtifact> resolve(ModelRegistered registered, RegistryContext context) {
        return resolve(registered).map(ResolvedArtifact::fetch);
    }

    /**
     * A {@code file:}, {@code http:} or {@code https:} URI for the model file, or empty when this
     * resolver does not know the event's registry. The default knows none.
     *
     * @throws io.modelrefinery.api.InvalidInputException if it knows the registry but not the model
     */
    default Optional<URI> resolve(ModelRegistered registered) {
        return Optional.empty();
    }
}
