package io.modelrefinery.api.plugin;

import io.modelrefinery.api.onnx.OnnxModel;

import java.util.Optional;

/**
 * Statistics a transform computed from a job's samples (calibration ranges, histograms), kept by the host so
 * that steps needing the same ones compute them once: the {@code auto} search tries several recipes and
 * per-layer fallbacks of one transform on one model, and a new version of a registered model may start from
 * the previous version's statistics. The host keys every entry by the transform, the content of
 * {@code model}, the content of the job's samples in {@code role}, and {@code key}: the transform's own
 * description of the parameters that change the statistics (a calibration method, its bins), never those
 * that only change what is done with them. The bytes are the transform's format; the host stores them as
 * they are, in memory for one job or on disk for later versions, and may drop any entry at any time.
 *
 * @since 1.6
 */
public interface StatisticsCache {

    /** The statistics stored for these arguments, if the host still has them. */
    Optional<byte[]> get(OnnxModel model, DataRole role, String key);

    /** Stores {@code statistics} for these arguments, replacing what was there. */
    void put(OnnxModel model, DataRole role, String key, byte[] statistics);

    /** A cache that keeps nothing: what a host before api 1.6 gives, and what tests may pass. */
    static StatisticsCache none() {
        return new StatisticsCache() {
            @Override
            public Optional<byte[]> get(OnnxModel model, DataRole role, String key) {
                return Optional.empty();
            }

            @Override
            public void put(OnnxModel model, DataRole role, String key, byte[] statistics) {
            }
        };
    }
}
