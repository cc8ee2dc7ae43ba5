package io.modelrefinery.api.onnx;

/**
 * One node of the graph a {@link GraphEditor} edits. It names the node, not its value: it stays valid while the
 * node is rewritten ({@link GraphEditor#set}, {@link GraphEditor#update}, {@link GraphEditor#replaceUses}) and
 * while other nodes are added, replaced or removed, until the node itself is replaced or removed. Equal only to
 * itself; it belongs to the editor that gave it.
 */
public final class NodeHandle {
    private final GraphEditor editor;

    NodeHandle(GraphEditor editor) {
        this.editor = editor;
    }

    GraphEditor editor() {
        return editor;
    }

    @Override
    public String toString() {
        return "node handle " + Integer.toHexString(System.identityHashCode(this));
    }
}
