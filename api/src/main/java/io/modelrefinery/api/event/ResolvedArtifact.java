package io.modelrefinery.api.event;

import java.net.URI;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Where an {@link ArtifactResolver} found a registered model: either a {@code file:} or
 * {@code http(s):} URI the host fetches itself, or a file the resolver already downloaded (through
 * {@link RegistryContext#http()}) into {@link RegistryContext#workDirectory()}, with any side files such
 * as ONNX external data next to it.
 *
 * @param location what the report shows as the model's input URI (for MLflow, the registry's own
 *     {@code models:/…} URI)
 * @param uri the URI for the host to fetch, or {@code null} when {@code file} is set
 * @param file the downloaded model file, or {@code null} when {@code uri} is set
 * @param format {@code onnx}, {@code keras} or {@code tflite} when the registry says so; {@code null}
 *     to infer it from the file
 */
public record ResolvedArtifact(String location, URI uri, Path file, String format) {
    public ResolvedArtifact {
        Objects.requireNonNull(location, "location");
        if ((uri == null) == (file == null)) {
            throw new IllegalArgumentException("a resolved artifact has either a URI or a file");
        }
    }

    /** A URI the host fetches within its artifact policy. */
    public static ResolvedArtifact fetch(URI uri) {
        return new ResolvedArtifact(uri.toString(), uri, null, null);
    }

    /** A file the resolver downloaded. */
    public static ResolvedArtifact downloaded(String location, Path file, String format) {
        return new ResolvedArtifact(location, null, file, format);
    }
}
