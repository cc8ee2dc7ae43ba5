package io.modelrefinery.plugin.opset;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.testdata.OnnxTestData;
import io.modelrefinery.testkit.PluginHarness;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A sample of ONNX's own backend test models, mostly at opsets 7 to 12, converted to opset 21 and checked
 * against the outputs the tests expect (bench/onnx-conformance.sh runs all of them, and other transforms).
 */
class OpsetOnnxBackendTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"node/test_acos", "node/test_and_bcast4v3d", "node/test_convtranspose_with_kernel",
            "node/test_upsample_nearest", "node/test_constantofshape_int_zeros", "node/test_scatter_with_axis",
            "node/test_dropout_default_old", "node/test_resize_downsample_sizes_nearest_tf_half_pixel_for_nn",
            "node/test_if", "node/test_range_float_type_positive_delta_expanded", "node/test_maxpool_2d_ceil",
            "node/test_einsum_batch_matmul", "node/test_softmax_axis_0", "node/test_split_variable_parts_2d"})
    void convertedToOpset21TheModelStillGivesTheExpectedOutputs(String test) {
        OnnxTestData.assumeAvailable();
        OnnxTestData.Case c = OnnxTestData.load(test);

        OnnxModel converted = PluginHarness.of(new OpsetTransform()).run("opset(target=21)", c.model(), dir).output()
                .onnxModel();

        assertEquals(21, converted.opsetVersion());
        assertTrue(converted.proto().getIrVersion() >= 10, "IR version " + converted.proto().getIrVersion());
        try (InferenceSession session = PluginHarness.inference(dir).open(converted)) {
            for (int i = 0; i < c.inputs().size(); i++) {
                Map<String, Tensor> actual = session.run(c.inputs().get(i));
                assertNull(OnnxTestData.difference(c.outputs().get(i), actual, 1e-3, 1e-5), test);
            }
        }
    }

    @Test
    void scanWithABatchAxisIsRefusedWithTheReason() {
        OnnxTestData.assumeAvailable();
        OnnxModel scan8 = OnnxTestData.load("node/test_scan_sum").model();

        InvalidInputException refused = assertThrows(InvalidInputException.class,
                () -> PluginHarness.of(new OpsetTransform()).run("opset(target=21)", scan8, dir));

        assertTrue(refused.getMessage().endsWith("cannot be converted to opset 21: Scan before opset 9 has a batch axis "
                + "and sequence lengths, which later versions lack"), refused.getMessage());
    }
}
