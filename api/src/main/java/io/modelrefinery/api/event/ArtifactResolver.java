package io.modelrefinery.api.event;

import java.net.URI;
import java.util.Optional;

/**
 * Finds the artifact of a registered model whose event carries no fetchable URI: registries such as
 * Azure Machine Learning name a model without saying where its file is, and MLflow names it
 * {@code models:/...}. Plugins provide resolvers as Declarative Services components
 * ({@code @Component(service = ArtifactResolver.class)}); the host asks each until one answers.
 *
 * <p>Resolvers run on worker threads and may do I/O; they must be thread-safe.
 */
public interface ArtifactResolver {

    /**
     * A {@code file:}, {@code http:} or {@code https:} URI for the model file, or empty when this
     * resolver does not know the event's registry.
     *
     * @throws io.modelrefinery.api.InvalidInputException if it knows the registry but not the model
     */
    Optional<URI> resolve(ModelRegistered registered);
}
