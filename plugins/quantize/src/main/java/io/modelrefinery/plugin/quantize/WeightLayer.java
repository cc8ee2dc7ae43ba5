package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

/**
 * One node whose constant float32 weight {@code quantize-weights} stores block-quantized.
 *
 * @param node the MatMul, Gemm or Gather
 * @param weight the initializer read as the weight
 * @param activation the input whose rows multiply the weight (MatMul's and Gemm's A); {@code null} for Gather
 * @param rows as many as output features (MatMul, Gemm) or table rows (Gather)
 * @param cols what each row holds: K input features, or an embedding's width
 * @param matrix {@code rows x cols} row-major: the weight transposed to one row per output feature, or the
 *     table as it is
 * @param bias Gemm's C times beta, added after the product; {@code null} if none
 */
record WeightLayer(Kind kind, NodeProto node, String weight, String activation, int rows, int cols, float[] matrix,
                   String bias) {
    /** How the node reads its weight. */
    enum Kind { MATMUL, GEMM, GATHER }

    String name() {
        return node.getName().isEmpty() ? node.getOutput(0) : node.getName();
    }

    boolean isProduct() {
        return kind != Kind.GATHER;
    }
}
