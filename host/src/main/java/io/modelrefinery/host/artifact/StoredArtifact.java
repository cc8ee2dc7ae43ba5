package io.modelrefinery.host.artifact;

import java.net.URI;
import java.nio.file.Path;
import java.util.Objects;

/**
 * An artifact in the {@link ArtifactStore}.
 *
 * @param uri {@code file:} URI of {@code path}
 * @param sha256 the content address, lower-case hex: the file's SHA-256, or for a model with external
 *     data the digest of the pair (see {@link ArtifactStore#putModel})
 * @param bytes the stored size; for a model with external data, both files together
 * @param path the stored file (for a model with external data, its {@code model.onnx})
 */
public record StoredArtifact(URI uri, String sha256, long bytes, Path path) {
    public StoredArtifact {
        Objects.requireNonNull(uri, "uri");
        Objects.requireNonNull(sha256, "sha256");
        Objects.requireNonNull(path, "path");
    }
}
