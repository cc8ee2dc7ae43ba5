package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.plugin.TransformResult;

/** One way of pruning the job's layers: by magnitude, reconstructed, SparseGPT, whole channels, or while training. */
interface PruningStrategy {
    TransformResult prune(PruneJob job);
}
