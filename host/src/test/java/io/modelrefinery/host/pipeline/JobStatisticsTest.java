package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.DatasetReader;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.SaveOptions;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.StatisticsCache;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The job's statistics cache reads the samples for their hash only when a hash is needed. */
class JobStatisticsTest {
    @TempDir
    Path dir;

    /** A real npz dataset that counts how often it is read. */
    private record Counted(Dataset inner, AtomicInteger opened) implements Dataset {
        @Override
        public String source() {
            return inner.source();
        }

        @Override
        public long size() {
            return inner.size();
        }

        @Override
        public List<TensorInfo> arrays() {
            return inner.arrays();
        }

        @Override
        public DatasetReader open() {
            opened.incrementAndGet();
            return inner.open();
        }
    }

    private Counted samples(String name, float... values) throws Exception {
        Path file = dir.resolve(name + ".npz");
        Datasets.writeNpz(file, Map.of("input", Tensor.ofFloats(new long[] {values.length, 1}, values)));
        return new Counted(Datasets.open(file, "input"), new AtomicInteger());
    }

    @Test
    void aJobThatStoresAndReadsItsOwnEntriesNeverHashesItsSamples() throws Exception {
        Counted data = samples("a", 1, 2, 3, 4);
        StatisticsCache cache = new JobStatistics(new JobData(data, null, null)).forTransform("quantize-static");
        OnnxModel model = TestModels.mlp();
        assertTrue(cache.get(model, DataRole.CALIBRATION, "k").isEmpty());
        cache.put(model, DataRole.CALIBRATION, "k", new byte[] {7});
        assertArrayEquals(new byte[] {7}, cache.get(model, DataRole.CALIBRATION, "k").orElseThrow());
        assertTrue(cache.get(model, DataRole.CALIBRATION, "other").isEmpty());
        assertEquals(0, data.opened().get(), "the samples were read for a hash nobody needed");
    }

    @Test
    void handedOutEntriesCarryTheSamplesHashAndAnotherJobOnOtherSamplesDoesNotMatchThem() throws Exception {
        Counted data = samples("a", 1, 2, 3, 4);
        JobStatistics first = new JobStatistics(new JobData(data, null, null));
        OnnxModel model = TestModels.mlp();
        first.forTransform("quantize-static").put(model, DataRole.CALIBRATION, "k", new byte[] {7});
        Map<JobStatistics.Entry, byte[]> kept = first.entries();
        assertEquals(1, data.opened().get(), "hashed once, when handed out");
        JobStatistics.Entry entry = kept.keySet().iterator().next();
        assertEquals(JobStatistics.hash(data.inner()), entry.data());
        // a later job on the same samples finds them (whatever the model); one on other samples does not
        Counted same = samples("b", 1, 2, 3, 4);
        assertArrayEquals(new byte[] {7}, new JobStatistics(new JobData(same, null, null)).remembering(kept)
                .forTransform("quantize-static").get(TestModels.sampleCnn(), DataRole.CALIBRATION, "k").orElseThrow());
        Counted other = samples("c", 1, 2, 3, 5);
        assertTrue(new JobStatistics(new JobData(other, null, null)).remembering(kept)
                .forTransform("quantize-static").get(model, DataRole.CALIBRATION, "k").isEmpty());
    }

    @Test
    void aModelWithExternalWeightsIsFoundByWhatItHoldsWhereverItIsStored() throws Exception {
        StatisticsCache cache = new JobStatistics(new JobData(samples("a", 1, 2), null, null))
                .forTransform("quantize-static");
        OnnxModel model = TestModels.mlp();
        model.save(dir.resolve("one.onnx"), SaveOptions.external().withThreshold(0));
        model.save(dir.resolve("two.onnx"), SaveOptions.external().withThreshold(0));
        cache.put(OnnxModel.load(dir.resolve("one.onnx")), DataRole.CALIBRATION, "k", new byte[] {7});
        assertArrayEquals(new byte[] {7},
                cache.get(OnnxModel.load(dir.resolve("two.onnx")), DataRole.CALIBRATION, "k").orElseThrow());
        assertTrue(cache.get(TestModels.sampleCnn(), DataRole.CALIBRATION, "k").isEmpty(), "another model");
    }
}
