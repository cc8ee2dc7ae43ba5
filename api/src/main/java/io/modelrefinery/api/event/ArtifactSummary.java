package io.modelrefinery.api.event;

/**
 * Size facts of a model file, as the report's {@code input} and {@code output} show them.
 *
 * @param uri where the model is
 * @param sha256 hex digest of the model file
 * @param bytes size of the model file plus any external-data side files
 * @param gzipBytes size of those files deflated into one zip archive: the seed article's size metric
 * @param params number of weight values (initializer elements)
 * @param sparsity share of weight values (initializers of rank 2 and more) that are exactly zero
 */
public record ArtifactSummary(String uri, String sha256, long bytes, long gzipBytes, long params, double sparsity) {
    /** The same facts for the file at {@code location}; {@code null} for a result that was not kept. */
    public ArtifactSummary withUri(String location) {
        return new ArtifactSummary(location, sha256, bytes, gzipBytes, params, sparsity);
    }
}
