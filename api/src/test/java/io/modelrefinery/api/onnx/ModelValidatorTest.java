package io.modelrefinery.api.onnx;

import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.ModelProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.function.UnaryOperator;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;
import static io.modelrefinery.api.onnx.OnnxHelper.graph;
import static io.modelrefinery.api.onnx.OnnxHelper.node;
import static io.modelrefinery.api.onnx.OnnxHelper.valueInfo;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ModelValidatorTest {

    private static String problem(UnaryOperator<GraphProto.Builder> edit) {
        ModelProto base = TestModels.mlp();
        ModelProto broken = base.toBuilder().setGraph(edit.apply(base.getGraph().toBuilder())).build();
        return assertThrows(InvalidModelException.class, () -> ModelValidator.validate(OnnxModel.of(broken)))
                .getMessage();
    }

    @Test
    void acceptsAConsistentModel() {
        assertDoesNotThrow(() -> ModelValidator.validate(OnnxModel.of(TestModels.mlp())));
    }

    @Test
    void namesTheNodeWithADanglingInput() {
        String message = problem(g -> g.setNode(1, node("Add", List.of("mm", "missing_bias"), List.of("pre"))));
        assertEquals("Add node 'pre_Add' in main graph reads 'missing_bias', which no node, graph input or "
                + "initializer defines", message);
    }

    @Test
    void namesTheTensorWhoseDataDoesNotMatch() {
        String message = problem(g -> g.setInitializer(1, g.getInitializer(1).toBuilder().clearDims().addDims(4)));
        assertEquals("initializer 'b': tensor 'b': raw_data has 12 bytes, but FLOAT[4] needs 16", message);
    }

    @Test
    void findsCycles() {
        String message = problem(g -> g.setNode(0, node("MatMul", List.of("output", "w"), List.of("mm"))));
        assertEquals("graph has a cycle through MatMul node 'mm_MatMul'", message);
    }

    @Test
    void findsValuesDefinedTwice() {
        String message = problem(g -> g.addNode(node("Relu", List.of("mm"), List.of("pre"))));
        assertEquals("value 'pre' is defined twice in main graph: by Add node 'pre_Add' and by Relu node 'pre_Relu'",
                message);
    }

    @Test
    void findsOutputsNothingProduces() {
        String message = problem(g -> g.addOutput(valueInfo("ghost", DataType.FLOAT, 1)));
        assertEquals("main graph output 'ghost' is not produced by any node, input or initializer", message);
    }

    @Test
    void findsUnimportedDomainsAndBadIrVersions() {
        String domain = problem(g -> g.setNode(2, node("Gelu", "com.example", List.of("pre"), List.of("output"))));
        ModelProto future = TestModels.mlp().toBuilder().setIrVersion(99).build();

        assertEquals("Gelu node 'output_Gelu' uses operator domain 'com.example', which the model does not import",
                domain);
        assertEquals("unsupported IR version 99 (supported: 3 to 14)", assertThrows(InvalidModelException.class,
                () -> ModelValidator.validate(OnnxModel.of(future))).getMessage());
    }

    @Test
    void checksSubgraphsWithTheirOuterScope() {
        GraphProto thenBranch = graph("then", List.of(node("Identity", List.of("pre"), List.of("t_out"))),
                List.of(), List.of(valueInfo("t_out", DataType.FLOAT, -1, 3)), List.of());
        GraphProto elseBranch = graph("else", List.of(node("Identity", List.of("nowhere"), List.of("e_out"))),
                List.of(), List.of(valueInfo("e_out", DataType.FLOAT, -1, 3)), List.of());
        NodeProto ifNode = node("If", List.of("cond"), List.of("output"),
                attr("then_branch", thenBranch), attr("else_branch", elseBranch));

        String message = problem(g -> g.setNode(2, ifNode)
                .addInitializer(Tensor.fromDoubles(DataType.BOOL, new long[0], new double[] {1}).toProto("cond")));

        assertEquals("Identity node 'e_out_Identity' in subgraph 'else_branch' of If node 'output_If' reads "
                + "'nowhere', which no node, graph input or initializer defines", message);
    }
}
