package io.modelrefinery.host.osgi.testplugin;

import io.modelrefinery.api.event.RegisteredVersion;
import io.modelrefinery.api.event.RegistrationRequest;
import io.modelrefinery.api.event.RegistryContext;
import io.modelrefinery.api.event.RegistryException;
import io.modelrefinery.api.event.RegistryWriter;
import org.osgi.service.component.annotations.Component;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.TreeMap;

/**
 * A registry writer for the registry of {@link TestResolver}: it records each registration as a file in
 * the folder of the source's {@code test.registry} tag (the request's tags, one per line), named after
 * the job, and answers with version {@code optimized-<job>}. A source tagged {@code test.registry-down}
 * gets a retriable failure instead.
 */
@Component(service = RegistryWriter.class)
public final class TestWriter implements RegistryWriter {
    @Override
    public Optional<RegisteredVersion> register(RegistrationRequest request, RegistryContext context) {
        if (!TestResolver.SOURCE.equals(request.source().source())) {
            return Optional.empty();
        }
        if (request.source().tags().containsKey("test.registry-down")) {
            throw new RegistryException("the test registry is down", true);
        }
        Path folder = Path.of(request.source().tags().get("test.registry"));
        StringBuilder record = new StringBuilder();
        new TreeMap<>(request.tags()).forEach((k, v) -> record.append(k).append('=').append(v).append('\n'));
        record.append("target=").append(request.targetName()).append('\n');
        record.append("model-bytes=").append(size(request.modelFile())).append('\n');
        try {
            Files.createDirectories(folder);
            Files.writeString(folder.resolve(request.jobId() + "-" + System.nanoTime() + ".txt"), record);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return Optional.of(new RegisteredVersion("test", request.targetName(), "optimized-" + request.jobId(),
                "test:" + request.targetName()));
    }

    private static long size(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
