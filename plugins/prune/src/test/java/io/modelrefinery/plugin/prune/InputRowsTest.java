package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.testkit.PluginHarness;
import io.modelrefinery.testkit.SampleData;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The rows reconstruction learns from, checked against ONNX Runtime: each convolution output is its
 * weight row (in {@link WeightLayer}'s column order) times the im2col row, plus the bias.
 */
class InputRowsTest {
    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
            // name | in channels | out | group | kernel | stride | dilation | pads | auto_pad | 1-D
            "plain | 3 | 4 | 1 | 3 | 1 | 1 | 0,0,0,0 | NOTSET | false",
            "padded, strided | 3 | 4 | 1 | 3 | 2 | 1 | 1,0,2,1 | NOTSET | false",
            "dilated | 2 | 3 | 1 | 3 | 1 | 2 | 1,1,1,1 | NOTSET | false",
            "grouped | 4 | 6 | 2 | 3 | 1 | 1 | 1,1,1,1 | NOTSET | false",
            "depthwise, same | 4 | 4 | 4 | 3 | 2 | 1 | | SAME_UPPER | false",
            "same lower | 2 | 2 | 1 | 2 | 1 | 1 | | SAME_LOWER | false",
            "valid | 2 | 2 | 1 | 3 | 2 | 1 | | VALID | false",
            "one-dimensional | 3 | 2 | 1 | 3 | 2 | 1 | 1,2 | NOTSET | true",
    })
    void rowsTimesWeightsGiveTheConvolutionOutput(String name, int in, int out, int group, int kernel, int stride,
                                                 int dilation, String pads, String autoPad, boolean oneD) {
        Random random = new Random(name.hashCode());
        long[] wShape = oneD ? new long[] {out, in / group, kernel} : new long[] {out, in / group, kernel, kernel};
        float[] w = new float[(int) (out * (in / group) * kernel * (oneD ? 1 : kernel))];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) random.nextGaussian();
        }
        float[] b = new float[out];
        for (int i = 0; i < out; i++) {
            b[i] = (float) random.nextGaussian();
        }
        List<AttributeProto> attrs = new ArrayList<>();
        attrs.add(oneD ? attr("strides", new long[] {stride}) : attr("strides", (long) stride, stride));
        attrs.add(oneD ? attr("dilations", new long[] {dilation}) : attr("dilations", (long) dilation, dilation));
        attrs.add(attr("group", (long) group));
        if (!autoPad.equals("NOTSET")) {
            attrs.add(attr("auto_pad", autoPad));
        } else {
            attrs.add(attr("pads", java.util.Arrays.stream(pads.split(",")).mapToLong(Long::parseLong).toArray()));
        }
        long[] xShape = oneD ? new long[] {2, in, 9} : new long[] {2, in, 7, 9};
        OnnxModel model = OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("conv",
                List.of(OnnxHelper.node("Conv", List.of("x", "w", "b"), List.of("y"), attrs.toArray(AttributeProto[]::new))),
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, xShape)),
                List.of(OnnxHelper.valueInfo("y", DataType.FLOAT)),
                List.of(Tensor.ofFloats(wShape, w).toProto("w"), Tensor.ofFloats(new long[] {out}, b).toProto("b"))), 17));
        Tensor x = SampleData.randomImages(3, xShape);
        Tensor y;
        try (InferenceSession session = PluginHarness.inference(dir).open(model)) {
            y = session.run(Map.of("x", x)).get("y");
        }
        WeightLayer layer = WeightLayer.find(model, Set.of("Conv")).get(0);
        double[][][] m = layer.matrix(model.initializer("w").orElseThrow());
        float[] expected = y.toFloatArray();
        int positions = (int) (y.elementCount() / (2L * out));
        int[] seen = new int[layer.groups];
        InputRows.forEach(layer, x, layer, x, (g, dense, pruned) -> {
            int index = seen[g]++;
            int n = index / positions;
            int p = index % positions;
            for (int r = 0; r < layer.rows; r++) {
                int o = g * layer.rows + r;
                double s = 0;
                for (int j = 0; j < layer.columns; j++) {
                    s += m[g][r][j] * dense[j];
                }
                s += b[o] * dense[layer.columns];
                assertEquals(expected[(n * out + o) * positions + p], s, 1e-4, name + ": sample " + n + ", output " + o
                        + ", position " + p);
            }
        });
        assertEquals(2 * positions, seen[0], "one row per sample and output position");
    }
}
