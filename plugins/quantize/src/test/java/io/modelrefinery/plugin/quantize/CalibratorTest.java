package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.Progress;
import io.modelrefinery.testkit.PluginHarness;
import io.modelrefinery.testkit.SampleData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The calibration graph: statistics right after each tensor's producer, the maximum alone for tensors that are
 * never negative, and the ranges it finds equal to the tensors' true extremes.
 */
class CalibratorTest {
    private static final Set<String> TENSORS = new LinkedHashSet<>(List.of("x", "a", "r", "c", "p", "s"));

    @TempDir
    static Path dir;
    private static InferenceService inference;
    private static Dataset data;
    private static Tensor samples;

    @BeforeAll
    static void prepare() throws Exception {
        inference = PluginHarness.inference(dir.resolve("ort"));
        samples = SampleData.randomImages(5, 20, 4, 8, 8);
        Path file = dir.resolve("samples.npz");
        Datasets.writeNpz(file, Map.of("x", samples));
        data = Datasets.open(file, "x");
    }

    private static float[] random(int n, long seed) {
        Random random = new Random(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) random.nextGaussian();
        }
        return out;
    }

    /** x -> Conv -> a -> Relu -> r -> Clip(-1, 1) -> c; r -> MaxPool -> p; a -> Sigmoid -> s. */
    private static OnnxModel model() {
        List<TensorProto> init = List.of(Tensor.ofFloats(new long[] {4, 4, 3, 3}, random(144, 1)).toProto("w"),
                Tensor.ofFloats(new long[0], -1f).toProto("lo"), Tensor.ofFloats(new long[0], 1f).toProto("hi"));
        List<NodeProto> nodes = List.of(
                OnnxHelper.node("Conv", List.of("x", "w"), List.of("a"), OnnxHelper.attr("pads", 1L, 1L, 1L, 1L)),
                OnnxHelper.node("Relu", List.of("a"), List.of("r")),
                OnnxHelper.node("Clip", List.of("a", "lo", "hi"), List.of("c")),
                OnnxHelper.node("MaxPool", List.of("r"), List.of("p"), OnnxHelper.attr("kernel_shape", 2L, 2L)),
                OnnxHelper.node("Sigmoid", List.of("a"), List.of("s")));
        return OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("calibrated", nodes,
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, -1, 4, 8, 8)),
                List.of(OnnxHelper.valueInfo("c", DataType.FLOAT, -1, 4, 8, 8),
                        OnnxHelper.valueInfo("p", DataType.FLOAT, -1, 4, 7, 7),
                        OnnxHelper.valueInfo("s", DataType.FLOAT, -1, 4, 8, 8)), init), 17));
    }

    private static Calibrator calibrator(CalibrationMethod method) {
        return new Calibrator(inference, data, new Calibrator.Settings(method, 99.9, 2048, 8, 0), Progress.none(),
                Cancellation.never());
    }

    @Test
    void onlyOperatorsThatCannotWriteANegativeValueMakeANonNegativeTensor() {
        NonNegativeTensors nonNegative = new NonNegativeTensors(model());

        assertFalse(nonNegative.contains("x"), "a graph input");
        assertFalse(nonNegative.contains("a"), "a convolution");
        assertTrue(nonNegative.contains("r"), "a ReLU");
        assertFalse(nonNegative.contains("c"), "a Clip from -1");
        assertTrue(nonNegative.contains("p"), "max pooling of a ReLU");
        assertTrue(nonNegative.contains("s"), "a sigmoid");
    }

    @ParameterizedTest
    @EnumSource(value = CalibrationMethod.class, names = {"MIN_MAX", "PERCENTILE"})
    void statisticsFollowTheNodeThatWritesTheirTensorAndANonNegativeOneHasNoMinimum(CalibrationMethod method) {
        OnnxModel model = model();
        Map<String, TensorInfo> types = inference.valueTypes(model);

        Calibrator.Augmented augmented = calibrator(method).augment(model, TENSORS, types);

        List<NodeProto> nodes = augmented.model().graph().getNodeList();
        List<String> written = new ArrayList<>(List.of("x"));
        for (NodeProto node : nodes) {
            boolean statistics = node.getOutputList().stream().allMatch(o -> o.contains("_calibration_"));
            if (statistics) {
                // reads a calibrated tensor written just before, or another statistics node's output
                String last = written.get(written.size() - 1);
                assertTrue(node.getInputList().stream().anyMatch(in -> in.contains("_calibration_") || in.equals(last)
                        || in.equals("x")), node.getOpType() + " of " + node.getInputList() + " after " + written);
            } else {
                written.add(node.getOutput(0));
            }
        }
        for (String tensor : TENSORS) {
            Calibrator.Outputs outputs = augmented.outputs().get(tensor);
            boolean nonNegative = Set.of("r", "p", "s").contains(tensor);
            assertEquals(nonNegative, outputs.min() == null, tensor);
            assertNotNull(outputs.max(), tensor);
            assertEquals(method != CalibrationMethod.MIN_MAX, outputs.bins() != null, tensor);
        }
        assertEquals(3, nodes.stream().filter(n -> n.getOpType().equals("GlobalMaxPool")).count(),
                "the maximum of an image-shaped non-negative tensor goes through the blocked layout's pooling");
    }

    @Test
    void aBatchOfLargeActivationsIsSmaller() {
        Map<String, TensorInfo> types = Map.of(
                "big", new TensorInfo("big", DataType.FLOAT, new long[] {-1, 64, 256, 256}),
                "small", new TensorInfo("small", DataType.FLOAT, new long[] {-1, 16, 8, 8}));
        Calibrator calibrator = new Calibrator(inference, data,
                new Calibrator.Settings(CalibrationMethod.MIN_MAX, 99.9, 2048, 32, 0), Progress.none(),
                Cancellation.never());

        // 64 x 256 x 256 floats are 16 MiB a sample: 16 of them fit 256 MiB
        assertEquals(16, calibrator.batchSize(Set.of("big"), types));
        assertEquals(15, calibrator.batchSize(Set.of("big", "small"), types));
        assertEquals(32, calibrator.batchSize(Set.of("small"), types), "never above the setting");
    }

    private static TensorInfo image(long... shape) {
        return new TensorInfo("t", DataType.FLOAT, shape);
    }

    @Test
    void aHistogramSamplesLargeImagesAndCountsSmallTensorsWhole() {
        int percentile = Calibrator.PERCENTILE_STRIDE;
        assertEquals(4, Calibrator.sampleStride(image(-1, 32, 112, 112), percentile), "32 x 28 x 28 values still");
        assertEquals(2, Calibrator.sampleStride(image(-1, 32, 112, 112), Calibrator.ENTROPY_STRIDE), "entropy's widest");
        assertEquals(2, Calibrator.sampleStride(image(-1, 16, 64, 64), percentile), "16 x 32 x 32; 3 keeps too few");
        assertEquals(1, Calibrator.sampleStride(image(-1, 320, 7, 7), percentile), "15,680: fewer than a sample keeps");
        assertEquals(1, Calibrator.sampleStride(image(-1, 16, -1, -1), percentile), "a size unknown");
        assertEquals(1, Calibrator.sampleStride(new TensorInfo("t", DataType.FLOAT, new long[] {-1, 128, 768}),
                percentile));
        assertEquals(1, Calibrator.sampleStride(null, percentile));
    }

    /**
     * Both histogram methods count a sample of a large image, every second pixel here. The percentile finds the
     * range that every value would give; entropy's threshold is the sample's, which moves with the number of
     * values counted (on these Gaussian values, 4.8 from every value, 3.9 from the sample; on the networks of
     * docs/benchmarks.md the SQNR moved 0.2 dB at most).
     */
    @ParameterizedTest
    @EnumSource(value = CalibrationMethod.class, names = {"PERCENTILE", "ENTROPY"})
    void aHistogramCountsASampleOfALargeImage(CalibrationMethod method, @TempDir Path work) throws Exception {
        // 24 samples of 16 x 64 x 64 Gaussian values; a sample every second pixel keeps 16,384 values of each
        int perSample = 16 * 64 * 64;
        Tensor images = Tensor.ofFloats(new long[] {24, 16, 64, 64}, random(24 * perSample, 7));
        Path file = work.resolve("images.npz");
        Datasets.writeNpz(file, Map.of("x", images));
        OnnxModel model = OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("images", List.of(
                        OnnxHelper.node("Relu", List.of("x"), List.of("r"))),
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, -1, 16, 64, 64)),
                List.of(OnnxHelper.valueInfo("r", DataType.FLOAT, -1, 16, 64, 64)), List.of()), 17));
        Map<String, TensorInfo> types = inference.valueTypes(model);
        int batch = 8;
        Calibrator calibrator = new Calibrator(inference, Datasets.open(file, "x"),
                new Calibrator.Settings(method, 99.9, 2048, batch, 0), Progress.none(), Cancellation.never());

        List<NodeProto> augmented = calibrator.augment(model, Set.of("x", "r"), types).model().graph().getNodeList();
        List<NodeProto> samplers = augmented.stream().filter(n -> n.getOpType().equals("MaxPool")).toList();
        // the extremes are reduced from the sample, never from the whole tensor
        Set<String> samples = samplers.stream().map(n -> n.getOutput(0)).collect(java.util.stream.Collectors.toSet());
        for (NodeProto reduction : augmented) {
            if (reduction.getOpType().startsWith("Reduce") || reduction.getOpType().equals("GlobalMaxPool")) {
                assertTrue(samples.contains(reduction.getInput(0)), reduction.getOpType() + " of " + reduction.getInput(0));
            }
        }
        Map<String, TensorRange> ranges = calibrator.calibrate(model, Set.of("x", "r"), types);

        assertEquals(2, samplers.size());
        for (NodeProto sampler : samplers) {
            assertEquals(List.of(2L, 2L), sampler.getAttributeList().stream()
                    .filter(a -> a.getName().equals("strides")).findFirst().orElseThrow().getIntsList());
        }
        float[] values = images.toFloatArray();
        for (String tensor : List.of("x", "r")) {
            // every value and every second pixel's, merged batch by batch as the calibration merges them
            Histogram every = new Histogram(2048);
            Histogram sample = new Histogram(2048);
            for (int b = 0; b < 24; b += batch) {
                float[] part = java.util.Arrays.copyOfRange(values, b * perSample, (b + batch) * perSample);
                if (tensor.equals("r")) {
                    for (int i = 0; i < part.length; i++) {
                        part[i] = Math.max(0, part[i]);
                    }
                }
                every.add(part);
                float[] sampled = everySecondPixel(part, 64);
                float high = 0;
                for (float v : sampled) {
                    high = Math.max(high, Math.abs(v));
                }
                sample.add(sampled, high); // binned over the sample's own range, as calibrated
            }
            int levels = tensor.equals("r") ? 256 : 128;
            double expected = method == CalibrationMethod.PERCENTILE ? every.percentile(99.9)
                    : sample.entropyThreshold(levels);
            double tolerance = method == CalibrationMethod.PERCENTILE ? 0.02 : 0.005;
            assertEquals(expected, ranges.get(tensor).max(), tolerance * expected, method + " of " + tensor);
        }
    }

    /** The pixels at even rows and columns of each {@code size} x {@code size} plane, as the strided MaxPool keeps. */
    private static float[] everySecondPixel(float[] planes, int size) {
        int half = size / 2;
        float[] out = new float[planes.length / 4];
        int o = 0;
        for (int plane = 0; plane < planes.length / (size * size); plane++) {
            for (int y = 0; y < half; y++) {
                for (int x = 0; x < half; x++) {
                    out[o++] = planes[plane * size * size + 2 * y * size + 2 * x];
                }
            }
        }
        return out;
    }

    @Test
    void minMaxCalibratesLargeActivationsInSmallerBatches() {
        // x tiled to 40 x 32 x 32 times its size: 10M floats, 40 MiB a sample, so 6 samples fit a batch, not 8
        OnnxModel model = OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("large", List.of(
                        OnnxHelper.node("Tile", List.of("x", "repeats"), List.of("t"))),
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, -1, 4, 8, 8)),
                List.of(OnnxHelper.valueInfo("t", DataType.FLOAT, -1, 160, 256, 256)),
                List.of(Tensor.ofLongs(new long[] {4}, 1, 40, 32, 32).toProto("repeats"))), 17));
        List<Long> done = new java.util.concurrent.CopyOnWriteArrayList<>();
        Calibrator calibrator = new Calibrator(inference, data,
                new Calibrator.Settings(CalibrationMethod.MIN_MAX, 99.9, 2048, 8, 0),
                (finished, total, what) -> done.add(finished), Cancellation.never());

        Map<String, TensorRange> ranges = calibrator.calibrate(model, Set.of("t"), inference.valueTypes(model));

        assertEquals(List.of(6L, 12L, 18L, 20L), done);
        assertEquals(1.0, ranges.get("t").max(), 0.01);
    }

    @Test
    void minMaxFindsEachTensorsTrueExtremes() {
        OnnxModel model = model();
        Map<String, TensorInfo> types = inference.valueTypes(model);

        Map<String, TensorRange> ranges = calibrator(CalibrationMethod.MIN_MAX).calibrate(model, TENSORS, types);

        GraphEditor editor = GraphEditor.of(model.graph());
        editor.addOutput("a");
        editor.addOutput("r");
        Map<String, Tensor> all;
        try (InferenceSession session = inference.open(model.withGraph(editor.build()), SessionOptions.defaults())) {
            all = new java.util.HashMap<>(session.run(Map.of("x", samples), List.of("a", "r", "c", "p", "s")));
        }
        all.put("x", samples);
        for (String tensor : TENSORS) {
            float[] values = all.get(tensor).toFloatArray();
            double min = Double.POSITIVE_INFINITY;
            double max = Double.NEGATIVE_INFINITY;
            for (float v : values) {
                min = Math.min(min, v);
                max = Math.max(max, v);
            }
            TensorRange range = ranges.get(tensor);
            assertEquals(max, range.max(), 1e-6, tensor + " max");
            // a non-negative tensor's lower end is zero, which every activation range includes anyway
            assertEquals(Set.of("r", "p", "s").contains(tensor) ? 0 : min, range.min(), 1e-6, tensor + " min");
        }
    }
}
