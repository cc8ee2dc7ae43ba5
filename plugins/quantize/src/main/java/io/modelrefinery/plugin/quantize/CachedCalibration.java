package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.StatisticsCache;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Calibration through the host's {@link StatisticsCache}: the ranges of a model's tensors are computed once per
 * model, samples and calibration settings, and every later step that needs them (another candidate of
 * {@code auto}, a per-layer fallback that leaves some nodes in float and so calibrates a subset) reads them.
 * Only what changes the ranges is in the key: the method and its own settings, the batch (histograms are
 * merged per batch) and the sample limit; which nodes are quantized is not, since a subset of tensors is
 * served from a larger entry. Tensors the entry lacks are calibrated and added to it.
 */
final class CachedCalibration {
    /** Bumped whenever the meaning of the stored bytes changes, so old entries are not read. */
    private static final int FORMAT = 1;

    private final StatisticsCache cache;
    private final Calibrator.Settings settings;
    private boolean reused;
    private long samples;

    CachedCalibration(StatisticsCache cache, Calibrator.Settings settings) {
        this.cache = cache;
        this.settings = settings;
    }

    /** The ranges of {@code tensors} of {@code model}, from the cache or from {@code calibrator}. */
    Map<String, TensorRange> ranges(OnnxModel model, Set<String> tensors, Map<String, TensorInfo> types,
                                    Calibrator calibrator) {
        String key = key(settings);
        Stored stored = cache.get(model, DataRole.CALIBRATION, key).map(CachedCalibration::read)
                .orElse(new Stored(0, new LinkedHashMap<>()));
        Set<String> missing = new LinkedHashSet<>(tensors);
        missing.removeAll(stored.ranges().keySet());
        if (missing.isEmpty()) {
            reused = true;
            samples = stored.samples();
            Map<String, TensorRange> ranges = new LinkedHashMap<>();
            tensors.forEach(t -> ranges.put(t, stored.ranges().get(t)));
            return ranges;
        }
        Map<String, TensorRange> computed = calibrator.calibrate(model, missing, types);
        samples = calibrator.samples();
        Map<String, TensorRange> all = new LinkedHashMap<>(stored.ranges());
        all.putAll(computed);
        cache.put(model, DataRole.CALIBRATION, key, write(new Stored(samples, all)));
        Map<String, TensorRange> ranges = new LinkedHashMap<>();
        tensors.forEach(t -> ranges.put(t, all.get(t)));
        return ranges;
    }

    /** Whether the last {@link #ranges} call ran no calibration at all. */
    boolean reused() {
        return reused;
    }

    /** Samples the ranges were computed on. */
    long samples() {
        return samples;
    }

    /** The settings that change ranges, as text: min-max ranges do not depend on the batch or the bins. */
    static String key(Calibrator.Settings s) {
        String method = s.method().name().toLowerCase(Locale.ROOT);
        String own = switch (s.method()) {
            case MIN_MAX -> "";
            // the sample a large image's histogram and its extremes come from ("sample-range"): ranges stored
            // before either was taken are not mixed in
            case PERCENTILE -> String.format(Locale.ROOT, ",percentile=%s,bins=%d,batch=%d,sample-range=%d,stride=%d",
                    s.percentile(), s.bins(), s.batchSize(), Calibrator.SAMPLED_VALUES, Calibrator.PERCENTILE_STRIDE);
            case ENTROPY -> String.format(Locale.ROOT, ",bins=%d,batch=%d,sample-range=%d,stride=%d", s.bins(),
                    s.batchSize(), Calibrator.SAMPLED_VALUES, Calibrator.ENTROPY_STRIDE);
        };
        return "quantize-ranges/" + FORMAT + ":method=" + method + own + ",max-samples=" + s.maxSamples();
    }

    private record Stored(long samples, Map<String, TensorRange> ranges) {
    }

    private static byte[] write(Stored stored) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            out.writeLong(stored.samples());
            out.writeInt(stored.ranges().size());
            for (Map.Entry<String, TensorRange> e : stored.ranges().entrySet()) {
                out.writeUTF(e.getKey());
                out.writeDouble(e.getValue().min());
                out.writeDouble(e.getValue().max());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    /** The stored entry, or nothing when the bytes are not ours (then calibration runs as if none were kept). */
    private static Optional<Stored> readOptional(byte[] data) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(data))) {
            long samples = in.readLong();
            int count = in.readInt();
            Map<String, TensorRange> ranges = new LinkedHashMap<>();
            for (int i = 0; i < count; i++) {
                ranges.put(in.readUTF(), new TensorRange(in.readDouble(), in.readDouble()));
            }
            return in.available() == 0 ? Optional.of(new Stored(samples, ranges)) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private static Stored read(byte[] data) {
        return readOptional(data).orElse(new Stored(0, new LinkedHashMap<>()));
    }
}
