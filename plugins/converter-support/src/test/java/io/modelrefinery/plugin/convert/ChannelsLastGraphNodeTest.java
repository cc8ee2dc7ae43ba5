package io.modelrefinery.plugin.convert;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.plugin.convert.ChannelsLastGraph.Padding;
import io.modelrefinery.plugin.convert.ChannelsLastGraph.Value;
import io.modelrefinery.testkit.ModelOutputs;
import io.modelrefinery.testkit.PluginHarness;
import io.modelrefinery.testkit.SampleData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Operators the layer methods do not offer, on channels-first data ({@link ChannelsLastGraph#channelsFirstData},
 * {@link ChannelsLastGraph#operator}, {@link ChannelsLastGraph#channelsFirstView}) as the TFLite converter builds
 * them, and constants read as values ({@link ChannelsLastGraph#constantValue}).
 */
class ChannelsLastGraphNodeTest {
    @TempDir
    Path dir;

    private Map<String, Tensor> run(OnnxModel model, Tensor x) {
        return ModelOutputs.run(PluginHarness.inference(dir), model, Map.of("x", x));
    }

    @Test
    void aChannelsFirstNodeAfterAConvolutionNeedsNoLayoutChangeAndItsOutputsComeBackChannelsLast() {
        ChannelsLastGraph graph = new ChannelsLastGraph();
        Value x = graph.input("x", DataType.FLOAT, -1, 4, 6, 3);
        Value conv = graph.conv(x, Weight.of(SampleData.randomImages(1, 8, 3, 1, 1)), null, new int[] {1, 1},
                new int[] {1, 1}, Padding.VALID, 1, "conv");
        // Split along the channels, which lie on axis 1 of the channels-first data.
        List<Value> halves = graph.operator("Split", List.of(graph.frameworkData(graph.channelsFirstData(conv))),
                DataType.FLOAT, List.of(new long[] {-1, 4, 4, 6}, new long[] {-1, 4, 4, 6}), "half", attr("axis", 1L));
        graph.output(graph.channelsFirstView(halves.get(0)), "a");
        graph.output(graph.channelsFirstView(halves.get(1)), "b");
        Value constant = graph.constantValue(Weight.of(Tensor.ofFloats(new long[] {2}, 1f, 2f)), "pair");
        graph.output(graph.binary("Add", constant, constant, "doubled"), "c");
        OnnxModel model = graph.build("g", "test");
        Tensor input = SampleData.randomImages(2, 2, 4, 6, 3);

        Map<String, Tensor> out = run(model, input);

        float[] direct = run(convOnly(), input).get("y").toFloatArray(); // [2, 4, 6, 8] channels last
        float[] a = out.get("a").toFloatArray();
        float[] b = out.get("b").toFloatArray();
        for (int pixel = 0; pixel < 2 * 4 * 6; pixel++) {
            for (int c = 0; c < 4; c++) {
                assertEquals(direct[pixel * 8 + c], a[pixel * 4 + c], 1e-6);
                assertEquals(direct[pixel * 8 + 4 + c], b[pixel * 4 + c], 1e-6);
            }
        }
        assertArrayEquals(new float[] {2f, 4f}, out.get("c").toFloatArray());
        List<String> ops = model.graph().getNodeList().stream().map(NodeProto::getOpType).toList();
        assertEquals(List.of("Transpose", "Conv", "Split", "Transpose", "Transpose", "Add"), ops);
    }

    private static OnnxModel convOnly() {
        ChannelsLastGraph graph = new ChannelsLastGraph();
        Value x = graph.input("x", DataType.FLOAT, -1, 4, 6, 3);
        graph.output(graph.conv(x, Weight.of(SampleData.randomImages(1, 8, 3, 1, 1)), null, new int[] {1, 1},
                new int[] {1, 1}, Padding.VALID, 1, "conv"), "y");
        return graph.build("g", "test");
    }
}
