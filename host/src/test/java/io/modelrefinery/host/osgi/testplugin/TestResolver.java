package io.modelrefinery.host.osgi.testplugin;

import io.modelrefinery.api.event.ArtifactResolver;
import io.modelrefinery.api.event.ModelRegistered;
import org.osgi.service.component.annotations.Component;

import java.net.URI;
import java.util.Optional;

/**
 * A resolver for a registry that names models without saying where they are: it knows registrations
 * whose source is {@value #SOURCE} and finds the file in the {@code test.path} tag.
 */
@Component(service = ArtifactResolver.class)
public final class TestResolver implements ArtifactResolver {
    public static final String SOURCE = "/test-registry";

    @Override
    public Optional<URI> resolve(ModelRegistered registered) {
        if (!SOURCE.equals(registered.source())) {
            return Optional.empty();
        }
        return Optional.ofNullable(registered.tags().get("test.path")).map(p -> java.nio.file.Path.of(p).toUri());
    }
}
