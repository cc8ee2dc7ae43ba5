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
 * @param opset the version of the default ONNX operator set the model imports (api.event 1.4): the input's is
 *     the model's original opset, before any conversion; {@code null} for a model in another format (Keras,
 *     TFLite) or one that imports no default operator set
 */
public record ArtifactSummary(String uri, String sha256, long bytes, long gzipBytes, long params, double sparsity,
                              Integer opset) {
    /** Facts without an opset, as before api.event 1.4. */
    public ArtifactSummary(String uri, String sha256, long bytes, long gzipBytes, long params, double sparsity) {
        this(uri, sha256, bytes, gzipBytes, params, sparsity, null);
    }

    /** The same facts for the file at {@code location}; {@code null} for a result that was not kept. */
    public ArtifactSummary withUri(String location) {
        return new ArtifactSummary(location, sha256, bytes, gzipBytes, params, sparsity, opset);
    }
}
