package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.Progress;
import io.modelrefinery.api.plugin.StatisticsCache;
import io.modelrefinery.api.plugin.TransformContext;
import io.modelrefinery.api.plugin.TransformResult;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.PluginHarness;
import io.modelrefinery.testdata.FashionMnist;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * quantize-static calibrates through the host's statistics cache: once per model, samples and the settings
 * that change ranges, whatever nodes a step leaves in float, and with the same result as calibrating afresh.
 */
class SharedCalibrationTest {
    @TempDir
    static Path dir;
    private static Dataset calibration;
    private static InferenceService inference;

    @BeforeAll
    static void data() {
        FashionMnist.assumeAvailable();
        calibration = Datasets.open(FashionMnist.binary(FashionMnist.Split.TRAIN, 200)
                .writeNpz(dir.resolve("calibration.npz")), "input");
        inference = PluginHarness.inference(dir.resolve("ort"));
    }

    /** The host's side, reduced to a map by key (one model and one dataset here), recording what was stored. */
    private static final class RecordingCache implements StatisticsCache {
        final Map<String, byte[]> entries = new ConcurrentHashMap<>();
        final List<String> stored = new ArrayList<>();

        @Override
        public Optional<byte[]> get(OnnxModel model, DataRole role, String key) {
            return Optional.ofNullable(entries.get(key));
        }

        @Override
        public void put(OnnxModel model, DataRole role, String key, byte[] statistics) {
            stored.add(key);
            entries.put(key, statistics);
        }
    }

    private static TransformContext context(StatisticsCache cache) {
        return new TransformContext() {
            @Override
            public InferenceService inference() {
                return inference;
            }

            @Override
            public Optional<Dataset> calibrationData() {
                return Optional.of(calibration);
            }

            @Override
            public Optional<Dataset> evaluationData() {
                return Optional.empty();
            }

            @Override
            public Optional<Dataset> trainingData() {
                return Optional.empty();
            }

            @Override
            public StatisticsCache statistics() {
                return cache;
            }

            @Override
            public Progress progress() {
                return Progress.none();
            }

            @Override
            public Cancellation cancellation() {
                return Cancellation.never();
            }

            @Override
            public Path scratchDirectory() {
                return dir;
            }

            @Override
            public Logger logger() {
                return LoggerFactory.getLogger(SharedCalibrationTest.class);
            }
        };
    }

    private static TransformResult quantize(StatisticsCache cache, Map<String, String> params) throws Exception {
        QuantizeStaticTransform transform = new QuantizeStaticTransform();
        return transform.apply(context(cache), ModelArtifact.onnx(ConformanceModels.sampleCnn()),
                Params.parse(transform.descriptor(), params));
    }

    @Test
    void calibratesOncePerMethodAndServesLayerFallbacksFromTheSameRanges() throws Exception {
        RecordingCache cache = new RecordingCache();

        TransformResult first = quantize(cache, Map.of("method", "entropy"));
        TransformResult fallback = quantize(cache, Map.of("method", "entropy", "exclude-nodes", "[/fc/Gemm]"));
        TransformResult again = quantize(cache, Map.of("method", "entropy"));
        TransformResult minMax = quantize(cache, Map.of("method", "min-max"));

        assertEquals(0.0, first.metrics().get("calibration-reused"));
        assertEquals(1.0, fallback.metrics().get("calibration-reused"), "a subset of the tensors: read, not calibrated");
        assertEquals(1.0, again.metrics().get("calibration-reused"));
        assertEquals(0.0, minMax.metrics().get("calibration-reused"), "another method, other ranges");
        assertEquals(2, cache.stored.size(), "one calibration per method: " + cache.stored);
        assertEquals(200.0, fallback.metrics().get("calibration-samples"));

        // what the cache served is what calibrating afresh gives
        TransformResult fresh = quantize(StatisticsCache.none(), Map.of("method", "entropy", "exclude-nodes", "[/fc/Gemm]"));
        assertArrayEquals(fresh.output().onnxModel().toByteArray(), fallback.output().onnxModel().toByteArray());
        assertArrayEquals(first.output().onnxModel().toByteArray(), again.output().onnxModel().toByteArray());
    }

    @Test
    void theKeyHoldsOnlyWhatChangesRanges() {
        Calibrator.Settings minMax = new Calibrator.Settings(CalibrationMethod.MIN_MAX, 99.9, 2048, 32, 0);
        assertEquals(CachedCalibration.key(minMax),
                CachedCalibration.key(new Calibrator.Settings(CalibrationMethod.MIN_MAX, 99.0, 512, 8, 0)),
                "min-max ranges do not depend on bins, percentile or batch");
        Calibrator.Settings entropy = new Calibrator.Settings(CalibrationMethod.ENTROPY, 99.9, 2048, 32, 0);
        assertEquals(CachedCalibration.key(entropy),
                CachedCalibration.key(new Calibrator.Settings(CalibrationMethod.ENTROPY, 90, 2048, 32, 0)));
        assertNotEquals(CachedCalibration.key(entropy),
                CachedCalibration.key(new Calibrator.Settings(CalibrationMethod.ENTROPY, 99.9, 1024, 32, 0)));
        assertNotEquals(CachedCalibration.key(minMax),
                CachedCalibration.key(new Calibrator.Settings(CalibrationMethod.MIN_MAX, 99.9, 2048, 32, 64)));
        // the histogram methods count a sample of a large image: its stride changes their ranges
        assertTrue(CachedCalibration.key(entropy).contains(",stride=" + Calibrator.ENTROPY_STRIDE));
        assertTrue(CachedCalibration.key(new Calibrator.Settings(CalibrationMethod.PERCENTILE, 99.9, 2048, 32, 0))
                .contains(",stride=" + Calibrator.PERCENTILE_STRIDE));
    }
}
