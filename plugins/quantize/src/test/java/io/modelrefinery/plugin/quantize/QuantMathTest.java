package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Scale, zero point, weight and bias quantization, and the histogram methods, on known values. */
class QuantMathTest {

    @Test
    void rangesIncludeZeroAndMapOntoTheType() {
        QuantParams relu = QuantParams.fromRange(0, 6, QuantType.UINT8, false, false);
        assertEquals(6 / 255.0, relu.scale(), 1e-7);
        assertEquals(0, relu.zeroPoint());

        QuantParams negative = QuantParams.fromRange(-3, -1, QuantType.UINT8, false, false);
        assertEquals(3 / 255.0, negative.scale(), 1e-7, "widened to include zero");
        assertEquals(255, negative.zeroPoint());

        QuantParams int8 = QuantParams.fromRange(-1, 3, QuantType.INT8, false, false);
        assertEquals(4 / 255.0, int8.scale(), 1e-7);
        assertEquals(-64, int8.zeroPoint(), "round(-128 + 1 / (4/255)) = round(-64.25)");

        QuantParams symmetric = QuantParams.fromRange(-0.5, 2, QuantType.INT8, true, false);
        assertEquals(4 / 254.0, symmetric.scale(), 1e-7, "symmetric int8 spans -127..127");
        assertEquals(0, symmetric.zeroPoint());

        assertEquals(QuantParams.perTensor(1f, 0, QuantType.UINT8), QuantParams.fromRange(0, 0, QuantType.UINT8, false, false));
        assertEquals(3 / 127.0, QuantParams.fromRange(0, 3, QuantType.UINT8, false, true).scale(), 1e-7, "reduced range");
    }

    @Test
    void weightsQuantizePerChannelSymmetricallyRoundingHalfToEven() {
        Tensor w = Tensor.ofFloats(new long[] {2, 3}, 1.27f, -0.635f, 0.005f, -2.54f, 0.01f, 0.0f);

        WeightQuantizer.Quantized q = WeightQuantizer.quantize(w, QuantType.INT8, 0, true, false);

        assertEquals(DataType.INT8, q.values().type());
        assertArrayEquals(new float[] {0.01f, 0.02f}, q.params().scales(), 1e-8f);
        assertArrayEquals(new int[] {0, 0}, q.params().zeroPoints());
        assertArrayEquals(new long[] {127, -64, 0, -127, 0, 0}, q.values().toLongArray(),
                "-0.635/0.01 = -63.5 rounds to even -64; 0.005/0.01 = 0.5 rounds to 0; 0.01/0.02 = 0.5 rounds to 0");
    }

    @Test
    void biasesUseTheProductOfInputAndWeightScales() {
        QuantParams weight = new QuantParams(new float[] {0.01f, 0.02f}, new int[] {0, 0}, QuantType.INT8, 0);

        WeightQuantizer.QuantizedBias q = WeightQuantizer.bias(Tensor.ofFloats(new long[] {2}, 0.5f, -0.5f), 0.1f, weight);

        assertArrayEquals(new float[] {0.001f, 0.002f}, q.scales(), 1e-8f);
        assertArrayEquals(new long[] {500, -250}, q.values().toLongArray());
    }

    @Test
    void percentileClipsTheRarestAbsoluteValues() {
        Histogram h = new Histogram(1000);
        float[] values = new float[10_000];
        for (int i = 0; i < values.length; i++) {
            values[i] = i < 9_995 ? (float) (i % 10) : -100f; // five outliers at -100
        }
        h.add(values);

        assertEquals(100, h.high(), 1e-9, "the range of absolute values");
        assertEquals(9.1, h.percentile(99.9), 1e-9, "the upper edge of the bin holding 9");
        assertEquals(100.0, h.percentile(100), 1e-9);
    }

    @Test
    void batchesWithTheirOwnRangesMergeIntoOneHistogram() {
        Histogram whole = new Histogram(1000);
        Histogram batched = new Histogram(1000);
        Random random = new Random(3);
        float[] small = new float[50_000];
        float[] large = new float[50_000];
        for (int i = 0; i < small.length; i++) {
            small[i] = (float) random.nextGaussian();
            large[i] = (float) (3 * random.nextGaussian());
        }
        float[] both = new float[small.length + large.length];
        System.arraycopy(small, 0, both, 0, small.length);
        System.arraycopy(large, 0, both, small.length, large.length);
        whole.add(both);
        batched.add(small); // a narrow batch first: the wide one re-bins it
        batched.add(large);

        assertEquals(whole.high(), batched.high(), 1e-6);
        for (double p : new double[] {50, 90, 99, 99.9}) {
            assertEquals(whole.percentile(p), batched.percentile(p), 2 * whole.high() / 1000, "percentile " + p);
        }
    }

    @Test
    void entropyClipsOutliersThatMinMaxWouldKeep() {
        Random random = new Random(1);
        float[] values = new float[200_000];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        values[0] = 40f; // one outlier each way stretches min-max to 40
        values[1] = -40f;
        Histogram h = new Histogram(2048);
        h.add(values);

        double threshold = h.entropyThreshold(128);

        assertTrue(threshold > 2.5 && threshold < 12, "clipped near the Gaussian's tail: " + threshold);
        assertTrue(h.entropyThreshold(256) >= threshold, "finer steps afford a wider range");
    }

    @Test
    void entropyKeepsTheWholeRangeOfAUniformDistribution() {
        float[] values = new float[100_000];
        for (int i = 0; i < values.length; i++) {
            values[i] = i / (float) values.length;
        }
        Histogram h = new Histogram(2048);
        h.add(values);

        assertEquals(1.0, h.entropyThreshold(256), 0.01, "nothing to gain from clipping a flat distribution");
    }
}
