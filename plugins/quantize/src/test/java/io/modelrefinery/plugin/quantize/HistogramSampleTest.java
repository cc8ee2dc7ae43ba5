package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.Progress;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.testing.ConvNets;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The histogram methods count a strided sample of each large tensor, and choose about the same ranges. */
class HistogramSampleTest {
    @TempDir
    static Path dir;
    private static InferenceService inference;
    private static OnnxModel model;
    private static Dataset data;
    private static Map<String, TensorInfo> types;
    private static Set<String> tensors;

    @BeforeAll
    static void prepare() throws Exception {
        model = ConvNets.smallMobileNet(7);
        Path file = dir.resolve("calibration.npz");
        Datasets.writeNpz(file, Map.of("input", TestModels.randomImages(1, 64, 3, 32, 32)));
        data = Datasets.open(file, "input");
        inference = new OrtRuntime().service(Device.CPU, dir.resolve("ort"));
        types = inference.valueTypes(model);
        tensors = new LinkedHashSet<>();
        for (NodeProto node : model.graph().getNodeList()) {
            TensorInfo info = types.get(node.getOutput(0));
            if (info != null && info.type() == DataType.FLOAT && info.rank() == 4) {
                tensors.add(node.getOutput(0));
            }
        }
    }

    @Test
    void theStrideLeavesSmallTensorsWholeAndHasNoSmallFactor() {
        HistogramSample sample = new HistogramSample(GraphEditor.of(model.graph()), 128, 17, HistogramSample.VALUES);
        TensorInfo small = new TensorInfo("small", DataType.FLOAT, new long[] {-1, 16, 8, 8});
        TensorInfo large = new TensorInfo("large", DataType.FLOAT, new long[] {-1, 96, 112, 112});

        assertEquals(1, sample.stride(small), "128 samples of 1,024 values: all counted");
        long stride = sample.stride(large);
        assertEquals(149, stride, "147 (1,204,224 x 128 / 2^20), then the next with no factor 2, 3, 5 or 7");
        assertEquals(1, new HistogramSample(GraphEditor.of(model.graph()), 128, 9, HistogramSample.VALUES).stride(large),
                "before opset 10 Slice takes no step: every element");
    }

    @ParameterizedTest
    @EnumSource(value = CalibrationMethod.class, names = {"ENTROPY", "PERCENTILE"})
    void aSampleOfEachTensorGivesTheRangesOfCountingEveryElement(CalibrationMethod method) {
        // A quarter of the largest tensors' values; production counts a million of each.
        long few = 65_536;
        long strided = tensors.stream().filter(t -> new HistogramSample(GraphEditor.of(model.graph()), 64, 17, few)
                .stride(types.get(t)) > 1).count();
        assertTrue(strided >= 2, strided + " of " + tensors.size() + " tensors sampled");

        Map<String, TensorRange> all = calibrate(method, Long.MAX_VALUE);
        Map<String, TensorRange> sampled = calibrate(method, few);

        for (String tensor : tensors) {
            TensorRange a = all.get(tensor);
            TensorRange s = sampled.get(tensor);
            double width = a.max() - a.min();
            assertEquals(a.min(), s.min(), 0.05 * width, tensor + ": " + a + " counting all, " + s + " sampled");
            assertEquals(a.max(), s.max(), 0.05 * width, tensor + ": " + a + " counting all, " + s + " sampled");
        }
    }

    private static Map<String, TensorRange> calibrate(CalibrationMethod method, long values) {
        return new Calibrator(inference, data, new Calibrator.Settings(method, 99.99, 2048, 32, 0, values),
                Progress.none(), Cancellation.never()).calibrate(model, tensors, types);
    }
}
