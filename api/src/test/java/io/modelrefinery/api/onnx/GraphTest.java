package io.modelrefinery.api.onnx;

import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.modelrefinery.api.onnx.OnnxHelper.node;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GraphTest {
    private final GraphProto mlp = TestModels.mlp().getGraph();

    @Test
    void indexFindsProducersConsumersAndInitializers() {
        GraphIndex index = GraphIndex.of(mlp);

        assertEquals("Add", index.producer("pre").orElseThrow().getOpType());
        assertEquals(List.of("MatMul"), index.consumers("input").stream().map(NodeProto::getOpType).toList());
        assertTrue(index.producer("input").isEmpty());
        assertTrue(index.initializer("w").isPresent());
        assertTrue(index.isGraphInput("input"));
        assertTrue(index.isGraphOutput("output"));
        assertEquals(List.of("input"), index.runtimeInputs().stream().map(v -> v.getName()).toList());
    }

    @Test
    void topologicalOrderSortsReversedNodesAndKeepsSortedOnes() {
        List<NodeProto> reversed = new java.util.ArrayList<>(mlp.getNodeList());
        java.util.Collections.reverse(reversed);
        GraphProto shuffled = mlp.toBuilder().clearNode().addAllNode(reversed).build();

        assertEquals(mlp.getNodeList(), GraphIndex.of(shuffled).topologicalOrder());
        assertEquals(mlp.getNodeList(), GraphIndex.of(mlp).topologicalOrder());
    }

    @Test
    void editorReplacesNodesAndSortsTheResult() {
        GraphEditor editor = GraphEditor.of(mlp);
        NodeProto relu = GraphIndex.of(mlp).producer("output").orElseThrow();
        String clipped = editor.freshName("pre");

        editor.replaceNode(relu, node("Relu", List.of(clipped), List.of("output")))
                .addNode(node("Clip", List.of("pre"), List.of(clipped)))
                .addOutput("mm");
        GraphProto edited = editor.build();

        assertEquals("pre_1", clipped);
        assertEquals(List.of("MatMul", "Add", "Clip", "Relu"),
                edited.getNodeList().stream().map(NodeProto::getOpType).toList());
        assertEquals(List.of("output", "mm"), edited.getOutputList().stream().map(v -> v.getName()).toList());
        assertEquals(3, mlp.getNodeCount(), "the source graph is untouched");
    }

    @Test
    void editorReplacesUsesAndInitializers() {
        GraphEditor editor = GraphEditor.of(mlp)
                .putInitializer(Tensor.ofFloats(new long[] {3}, 1, 1, 1).toProto("b"))
                .putInitializer(Tensor.ofFloats(new long[] {3}, 2, 2, 2).toProto("b2"))
                .replaceUses("b", "b2")
                .removeInitializer("b");
        GraphProto edited = editor.build();
        GraphIndex index = GraphIndex.of(edited);

        assertTrue(index.initializer("b").isEmpty());
        assertEquals(List.of("mm", "b2"), index.producer("pre").orElseThrow().getInputList());
    }

    @Test
    void aHandleFollowsItsNodeThroughEditsWhereAStaleValueIsNotFound() {
        GraphEditor editor = GraphEditor.of(mlp);
        List<NodeHandle> handles = editor.handles();
        NodeProto add = mlp.getNode(1);
        NodeHandle addHandle = handles.get(1);

        // replaceUses rewrites the Add: the value read from the source graph is stale, the handle is not
        editor.replaceUses("b", "b2");
        assertThrows(IllegalArgumentException.class, () -> editor.replaceNode(add, add));
        assertEquals(List.of("mm", "b2"), editor.node(addHandle).getInputList());

        editor.update(addHandle, b -> b.setOpType("Sub"));
        assertEquals("Sub", editor.node(addHandle).getOpType());
        assertEquals(addHandle, editor.producer("pre").orElseThrow());
        assertEquals(addHandle, editor.handle(editor.node(addHandle)));

        // replacing the Relu gives handles for what replaces it, in order, and ends the old one
        NodeHandle relu = editor.producer("output").orElseThrow();
        List<NodeHandle> replacements = editor.replace(relu, List.of(node("Clip", List.of("pre"), List.of("c")),
                node("Relu", List.of("c"), List.of("output"))));
        assertEquals("Clip", editor.node(replacements.get(0)).getOpType());
        assertEquals(replacements.get(1), editor.producer("output").orElseThrow());
        IllegalArgumentException gone = assertThrows(IllegalArgumentException.class, () -> editor.node(relu));
        assertTrue(gone.getMessage().endsWith("names a node that was replaced or removed"), gone.getMessage());

        NodeHandle identity = editor.add(node("Identity", List.of("mm"), List.of("copy")));
        editor.remove(identity).remove(replacements.get(0));
        editor.set(replacements.get(1), node("Relu", List.of("pre"), List.of("output")));
        assertEquals(List.of("MatMul", "Sub", "Relu"), editor.build().getNodeList().stream().map(NodeProto::getOpType)
                .toList());
        assertEquals(List.of(handles.get(0), addHandle, replacements.get(1)), editor.handles());
        assertThrows(IllegalArgumentException.class, () -> GraphEditor.of(mlp).node(addHandle),
                "a handle belongs to its editor");
    }

    /** The example of "Rewriting nodes" in docs/plugins.md, as written there. */
    @Test
    void thePluginGuidesRewritingExampleTurnsReluIntoClip() {
        OnnxModel model = OnnxModel.of(TestModels.mlp());

        GraphEditor editor = GraphEditor.of(model.graph());
        for (NodeHandle node : editor.handles()) {                  // the source graph's nodes, in its order
            if (editor.node(node).getOpType().equals("Relu")) {      // ReLU becomes ReLU6, Clip(x, 0, 6), in place
                editor.update(node, b -> b.setOpType("Clip").addInput("zero").addInput("six"));
            }
        }
        editor.putInitializer(Tensor.scalar(0f).toProto("zero")).putInitializer(Tensor.scalar(6f).toProto("six"));
        OnnxModel out = model.withGraph(editor.build());

        NodeProto clip = GraphIndex.of(out.graph()).producer("output").orElseThrow();
        assertEquals("Clip", clip.getOpType());
        assertEquals(List.of("pre", "zero", "six"), clip.getInputList());
        assertEquals(6f, out.initializer("six").orElseThrow().toFloatArray()[0]);
        assertEquals("Relu", GraphIndex.of(model.graph()).producer("output").orElseThrow().getOpType(), "the source is unchanged");
    }
}
