/**
 * The {@code prune} transform (unstructured, N:M and channel pruning, by magnitude or reconstructed from
 * calibration samples) and the {@code clip} transform (per-channel weight clipping).
 */
package io.modelrefinery.plugin.prune;
