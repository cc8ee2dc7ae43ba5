package io.modelrefinery.host.ort;

import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceException;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** ONNX Runtime's own failures, as a user reads them: its reason, none of its error codes or source locations. */
class OrtErrorsTest {
    @TempDir
    Path dir;

    private InferenceService cpu() {
        return new OrtRuntime().service(Device.CPU, dir);
    }

    private static OnnxModel model(NodeProto node, List<TensorProto> initializers) {
        return OnnxModel.of(OnnxHelper.model(OnnxHelper.graph("g", List.of(node),
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, 1, 3)),
                List.of(ValueInfoProto.newBuilder().setName("y").build()), initializers), 16));
    }

    private static void assertNoWrapping(String message) {
        for (String leak : List.of("ORT_", "Error code", "OrtException", "[ONNXRuntimeError]", "[ErrorCode:",
                "onnxruntime::", ".h:", ".cc:", "was false", "Status Message", "Please fix")) {
            assertFalse(message.contains(leak), leak + " in: " + message);
        }
        assertEquals(1, message.lines().count(), message);
    }

    @Test
    void aKernelFailureNamesTheNodeAndKeepsOnlyItsReason() {
        OnnxModel reshape = model(OnnxHelper.node("Reshape", List.of("x", "shape"), List.of("y")),
                List.of(Tensor.ofLongs(new long[] {2}, 2, 2).toProto("shape")));
        InferenceException failed;
        try (InferenceSession session = cpu().open(reshape)) {
            failed = assertThrows(InferenceException.class,
                    () -> session.run(Map.of("x", Tensor.ofFloats(new long[] {1, 3}, 1, 2, 3))));
        }

        assertEquals("ONNX Runtime failed to run the model: Reshape node 'y_Reshape': The input tensor cannot be "
                + "reshaped to the requested shape. Input shape:{1,3}, requested shape:{2,2}", failed.getMessage());
        assertNoWrapping(failed.getMessage());
    }

    @Test
    void wrongInputDimensionsAndInvalidGraphsKeepTheirReason() {
        InferenceException dims;
        try (InferenceSession session = cpu().open(TestModels.mlp())) {
            dims = assertThrows(InferenceException.class,
                    () -> session.run(Map.of("x", Tensor.ofFloats(new long[] {1, 3}, 1, 2, 3))));
        }
        InferenceException unknown = assertThrows(InferenceException.class,
                () -> cpu().open(model(OnnxHelper.node("NoSuchOp", List.of("x"), List.of("y")), List.of())));

        assertEquals("ONNX Runtime failed to run the model: Got invalid dimensions for input: x for the following "
                + "indices index: 1 Got: 3 Expected: 4", dims.getMessage());
        assertNoWrapping(dims.getMessage());
        assertEquals("ONNX Runtime cannot open the model: This is an invalid model. In Node, (\"y_NoSuchOp\", NoSuchOp, "
                + "\"\", -1) : (\"x\": tensor(float),) -> (\"y\",) , Error No Op registered for NoSuchOp with domain_version "
                + "of 16", unknown.getMessage());
        assertNoWrapping(unknown.getMessage());
    }

    @Test
    void theCApisStatusPrefixesAndAnEnforcesLocationGoToo() {
        // as ONNX Runtime's C API and its ORT_THROW write them (seen from Python and from other bindings)
        assertEquals("Load model failed: Protobuf parsing failed.", OrtErrors.oneLine(
                "ai.onnxruntime.OrtException: [ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model failed: "
                        + "Protobuf parsing failed."));
        assertEquals("Invalid Feed Input Name:z", OrtErrors.oneLine("Error code - ORT_INVALID_ARGUMENT - message: "
                + "[ErrorCode:InvalidArgument] Invalid Feed Input Name:z"));
        assertEquals("Gather node: indices element out of data bounds, idx=7 must be within the inclusive range [-3,2]",
                OrtErrors.oneLine("Error code - ORT_FAIL - message: Non-zero status code returned while running Gather "
                        + "node. Name:'' Status Message: /onnxruntime_src/onnxruntime/core/providers/cpu/tensor/"
                        + "gather.cc:83 onnxruntime::GatherCopyData(...) indices element out of data bounds, idx=7 "
                        + "must be within the inclusive range [-3,2]"));
        assertEquals("unknown error", OrtErrors.oneLine(null));
    }
}
