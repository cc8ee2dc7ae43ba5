package io.modelrefinery.api.onnx;

import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.ModelProto;

import java.util.List;

import static io.modelrefinery.api.onnx.OnnxHelper.graph;
import static io.modelrefinery.api.onnx.OnnxHelper.model;
import static io.modelrefinery.api.onnx.OnnxHelper.node;
import static io.modelrefinery.api.onnx.OnnxHelper.valueInfo;

/** Small generated models for IR tests. */
final class TestModels {
    private TestModels() {
    }

    /** input[N,4] -> MatMul w[4,3] -> Add b[3] -> Relu -> output[N,3]. */
    static ModelProto mlp() {
        float[] w = new float[12];
        for (int i = 0; i < w.length; i++) {
            w[i] = (i - 6) * 0.25f;
        }
        GraphProto g = graph("mlp",
                List.of(node("MatMul", List.of("input", "w"), List.of("mm")),
                        node("Add", List.of("mm", "b"), List.of("pre")),
                        node("Relu", List.of("pre"), List.of("output"))),
                List.of(valueInfo("input", DataType.FLOAT, -1, 4)),
                List.of(valueInfo("output", DataType.FLOAT, -1, 3)),
                List.of(Tensor.ofFloats(new long[] {4, 3}, w).toProto("w"),
                        Tensor.ofFloats(new long[] {3}, 0.5f, -0.5f, 1f).toProto("b")));
        return model(g, 17);
    }
}
