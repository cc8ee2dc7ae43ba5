package io.modelrefinery.api.data;

import java.util.Optional;

/** One pass over a {@link Dataset}, pulled batch by batch. Not thread-safe. */
public interface DatasetReader extends AutoCloseable {

    /**
     * The next up to {@code maxSamples} samples, or empty when the pass is over.
     *
     * @throws InvalidDataException if the file turns out truncated or malformed
     */
    Optional<Batch> next(int maxSamples);

    @Override
    void close();
}
