package io.modelrefinery.plugin.convert;

import io.modelrefinery.api.InvalidInputException;
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

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The layout bookkeeping of the graph builder, checked against the same graph without it. */
class ChannelsLastGraphTest {
    @TempDir
    Path dir;

    private Tensor run(OnnxModel model, Tensor x) {
        return ModelOutputs.run(PluginHarness.inference(dir), model, Map.of("x", x)).get("y");
    }

    private static List<String> opTypes(OnnxModel model) {
        return model.graph().getNodeList().stream().map(NodeProto::getOpType).toList();
    }

    private static Weight weight(long seed, long... shape) {
        return Weight.of(SampleData.randomImages(seed, shape));
    }

    /** conv, then flatten and dense: with the dense rows permuted, or with the flatten in channels-last order. */
    private OnnxModel convFlattenDense(boolean materialize) {
        ChannelsLastGraph graph = new ChannelsLastGraph();
        Value x = graph.input("x", DataType.FLOAT, -1, 5, 4, 3);
        Value conv = graph.conv(x, weight(1, 6, 3, 3, 3), weight(2, 6), new int[] {1, 1}, new int[] {1, 1},
                Padding.SAME, 1, "conv");
        Value flat = graph.flatten(conv, "flat");
        Value relu = graph.unary("Relu", flat, "relu");
        Value dense = graph.dense(relu, weight(3, 120, 2), null, "dense");
        graph.output(materialize ? graph.softmax(graph.concat(List.of(dense, dense), 1, "both"), -1, "y")
                : dense, "y");
        return graph.build("g", "test");
    }

    @Test
    void aFlattenBeforeADenseLayerCostsNoTranspose() {
        Tensor x = SampleData.randomImages(9, 2, 5, 4, 3);
        ChannelsLastGraph reference = new ChannelsLastGraph();
        Value in = reference.input("x", DataType.FLOAT, -1, 5, 4, 3);
        Value conv = reference.conv(in, weight(1, 6, 3, 3, 3), weight(2, 6), new int[] {1, 1}, new int[] {1, 1},
                Padding.SAME, 1, "conv");
        Value rows = reference.reshape(conv, new long[] {0, 5, 24}, "rows"); // channels-last data, then flattened
        Value unfolded = reference.unary("Relu", reference.reshape(rows, new long[] {0, -1}, "flat"), "relu");
        reference.output(reference.dense(unfolded, weight(3, 120, 2), null, "dense"), "y");

        OnnxModel folded = convFlattenDense(false);

        assertEquals(List.of("Transpose", "Conv", "Flatten", "Relu", "Gemm"), opTypes(folded));
        float[] expected = run(reference.build("g", "test"), x).toFloatArray();
        assertEquals(List.of("Transpose", "Conv", "Transpose", "Reshape", "Flatten", "Relu", "Gemm"),
                opTypes(reference.build("g", "test")));
        double scale = ModelOutputs.maxAbsDiff(new float[expected.length], expected);
        double diff = ModelOutputs.maxAbsDiff(expected, run(folded, x).toFloatArray());
        assertTrue(diff < 1e-6 * scale, "max difference " + diff + " for outputs up to " + scale);
    }

    @Test
    void layoutsAreSharedAndOutputsKeepTheFrameworkShape() {
        ChannelsLastGraph graph = new ChannelsLastGraph();
        Value x = graph.input("x", DataType.FLOAT, 1, 4, 4, 2);
        Value a = graph.pool("MaxPool", x, new int[] {2, 2}, new int[] {1, 1}, Padding.SAME, "a");
        Value b = graph.pool("AveragePool", x, new int[] {3, 3}, new int[] {1, 1}, Padding.SAME, "b");
        Value sum = graph.binary("Add", a, b, "sum");
        graph.output(graph.binary("Mul", sum, Weight.of(Tensor.ofFloats(new long[] {2}, 2f, -1f)), false, "y"), "y");

        OnnxModel model = graph.build("g", "test");

        assertEquals(List.of("Transpose", "MaxPool", "AveragePool", "Add", "Mul", "Transpose"), opTypes(model));
        assertArrayEquals(new long[] {1, 4, 4, 2}, run(model, SampleData.randomImages(4, 1, 4, 4, 2)).shape());
        assertEquals(2, graph.layoutChanges());
    }

    @Test
    void shapesThatDoNotFitAreBadInput() {
        ChannelsLastGraph graph = new ChannelsLastGraph();
        Value x = graph.input("x", DataType.FLOAT, -1, 8);

        assertEquals("dense layer expects 4 input features, gets 8", assertThrows(InvalidInputException.class,
                () -> graph.dense(x, weight(1, 4, 2), null, "d")).getMessage());
        assertEquals("a 2-D convolution needs a 4-D input, gets x[?,8]", assertThrows(InvalidInputException.class,
                () -> graph.conv(x, weight(1, 1, 1, 1, 1), null, new int[] {1, 1}, new int[] {1, 1}, Padding.VALID, 1,
                        "c")).getMessage());
    }

    @Test
    void tensorLayoutsMoveBytesExactly() {
        Tensor int8 = Tensor.fromDoubles(DataType.INT8, new long[] {2, 3}, new double[] {1, 2, 3, -4, -5, -6});

        assertArrayEquals(new long[] {1, -4, 2, -5, 3, -6}, TensorLayouts.transpose(int8, 1, 0).toLongArray());
        assertArrayEquals(new long[] {-4, -5, -6, 1, 2, 3}, TensorLayouts.takeRows(int8, new int[] {1, 0}).toLongArray());
        assertArrayEquals(new long[] {3, 2}, TensorLayouts.transpose(int8, 1, 0).shape());
    }
}
