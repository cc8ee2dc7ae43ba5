package io.modelrefinery.api.onnx;

import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.ModelProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;
import static io.modelrefinery.api.onnx.OnnxHelper.graph;
import static io.modelrefinery.api.onnx.OnnxHelper.node;
import static io.modelrefinery.api.onnx.OnnxHelper.valueInfo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

class ModelTensorsTest {

    /** The MLP plus a Constant node and an If whose branch has its own initializer. */
    private static ModelProto nested() {
        GraphProto branch = graph("branch", List.of(node("Add", List.of("pre", "k"), List.of("out"))), List.of(),
                List.of(valueInfo("out", DataType.FLOAT, -1, 3)), List.of(Tensor.scalar(2f).toProto("k")));
        ModelProto mlp = TestModels.mlp();
        return mlp.toBuilder().setGraph(mlp.getGraph().toBuilder()
                .addNode(node("Constant", List.of(), List.of("flag"), attr("value",
                        Tensor.fromDoubles(DataType.BOOL, new long[0], new double[] {1}).toProto("flag_value"))))
                .addNode(node("If", List.of("flag"), List.of("branched"), attr("then_branch", branch),
                        attr("else_branch", branch)))).build();
    }

    @Test
    void visitsEveryTensorWithWhereItSits() {
        List<String> places = new ArrayList<>();
        ModelTensors.forEach(nested(), (tensor, where) -> places.add(where));

        assertEquals(List.of("initializer 'w'", "initializer 'b'",
                "attribute 'value' of Constant node 'flag_Constant' in graph 'mlp'",
                "initializer 'k'", "initializer 'k'"), places);
    }

    @Test
    void rewritesOnlyWhatChangesAndSharesTheRest() {
        ModelProto model = nested();

        ModelProto same = ModelTensors.rewrite(model, (tensor, where) -> tensor);
        ModelProto scaled = ModelTensors.rewrite(model, (tensor, where) -> tensor.getName().equals("k")
                ? Tensor.scalar(3f).toProto("k") : tensor);

        assertSame(model, same);
        assertNotSame(model, scaled);
        GraphProto thenBranch = scaled.getGraph().getNode(4).getAttribute(0).getG();
        assertEquals(3f, Tensor.fromProto(thenBranch.getInitializer(0)).toFloatArray()[0]);
        assertSame(model.getGraph().getInitializer(0), scaled.getGraph().getInitializer(0));
        TensorProto unchangedConstant = model.getGraph().getNode(3).getAttribute(0).getT();
        assertSame(unchangedConstant, scaled.getGraph().getNode(3).getAttribute(0).getT());
    }
}
