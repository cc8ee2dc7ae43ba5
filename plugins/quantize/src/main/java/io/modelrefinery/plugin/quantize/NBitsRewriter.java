package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.OperatorSetIdProto;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Writes block-quantized weights into the graph as ONNX Runtime runs them: a MatMul (or Gemm, then Add of
 * its C) becomes {@code com.microsoft.MatMulNBits}, a Gather from a table {@code GatherBlockQuantized} with
 * uint8 data packed along the row. Symmetric weights leave the zero points out (the runtime's default is
 * {@code 2^(bits-1)}, the one they use); HQQ's fractional zero points are stored as float, which MatMulNBits
 * accepts. Float weights no other node reads are removed.
 */
final class NBitsRewriter {
    private final GraphEditor editor;
    private final long accuracyLevel;
    private final Set<String> replaced = new HashSet<>();
    private long packedBytes;

    /**
     * @param accuracyLevel MatMulNBits' {@code accuracy_level}: 0 computes in the activations' float type, 4
     *     lets the kernel round activations to int8 per block for integer products
     */
    NBitsRewriter(GraphEditor editor, long accuracyLevel) {
        this.editor = editor;
        this.accuracyLevel = accuracyLevel;
    }

    /** Bytes of the quantized tensors written so far: codes, scales and zero points. */
    long packedBytes() {
        return packedBytes;
    }

    void rewrite(WeightLayer layer, BlockQuantized q) {
        NodeProto node = layer.node();
        String base = editor.freshName(layer.weight() + "_q" + q.bits());
        String scales = base + "_scales";
        String zeroPoints = base + "_zero_points";
        List<NodeProto> nodes = new ArrayList<>();
        if (layer.kind() == WeightLayer.Kind.GATHER) {
            byte[] data = NBitsPacking.tableRows(q);
            put(Tensor.of(DataType.UINT8, new long[] {q.rows(), data.length / q.rows()}, data), base);
            put(Tensor.ofFloats(new long[] {q.rows(), q.blocks()}, q.scales()), scales);
            List<String> inputs = new ArrayList<>(List.of(base, node.getInput(1), scales));
            if (!q.symmetric()) {
                byte[] zp = NBitsPacking.zeroPoints(q);
                put(Tensor.of(DataType.UINT8, new long[] {q.rows(), zp.length / q.rows()}, zp), zeroPoints);
                inputs.add(zeroPoints);
            }
            nodes.add(OnnxHelper.node("GatherBlockQuantized", DynamicQuantizer.MS_DOMAIN, inputs, node.getOutputList(),
                    OnnxHelper.attr("bits", (long) q.bits()), OnnxHelper.attr("block_size", (long) q.blockSize()),
                    OnnxHelper.attr("gather_axis", 0L), OnnxHelper.attr("quantize_axis", 1L)).toBuilder()
                    .setName(node.getName()).build());
        } else {
            byte[] packed = NBitsPacking.weights(q);
            put(Tensor.of(DataType.UINT8, new long[] {q.rows(), q.blocks(), packed.length / q.rows() / q.blocks()},
                    packed), base);
            put(Tensor.ofFloats(new long[] {(long) q.rows() * q.blocks()}, q.scales()), scales);
            List<String> inputs = new ArrayList<>(List.of(node.getInput(0), base, scales));
            if (q.fractionalZeroPoints()) {
                put(Tensor.ofFloats(new long[] {(long) q.rows() * q.blocks()}, q.zeroPoints()), zeroPoints);
                inputs.add(zeroPoints);
            } else if (!q.symmetric()) {
                byte[] zp = NBitsPacking.zeroPoints(q);
                put(Tensor.of(DataType.UINT8, new long[] {zp.length}, zp), zeroPoints);
                inputs.add(zeroPoints);
            }
            String product = layer.bias() == null ? node.getOutput(0) : editor.freshName(node.getOutput(0) + "_product");
            nodes.add(OnnxHelper.node("MatMulNBits", DynamicQuantizer.MS_DOMAIN, inputs, List.of(product),
                    OnnxHelper.attr("K", (long) q.cols()), OnnxHelper.attr("N", (long) q.rows()),
                    OnnxHelper.attr("bits", (long) q.bits()), OnnxHelper.attr("block_size", (long) q.blockSize()),
                    OnnxHelper.attr("accuracy_level", accuracyLevel)).toBuilder().setName(node.getName()).build());
            if (layer.bias() != null) {
                nodes.add(OnnxHelper.node("Add", List.of(product, layer.bias()), List.of(node.getOutput(0))).toBuilder()
                        .setName(node.getName().isEmpty() ? "" : node.getName() + "_bias").build());
            }
        }
        editor.replaceNode(node, nodes);
        replaced.add(layer.weight());
        if (layer.bias() != null && node.getInputCount() > 2) {
            replaced.add(node.getInput(2));
        }
    }

    private void put(Tensor tensor, String name) {
        editor.putInitializer(tensor.toProto(name));
        packedBytes += tensor.byteSize();
    }

    /** The rewritten model, importing ONNX Runtime's operator domain. */
    OnnxModel finish(OnnxModel model) {
        GraphPreparation.removeUnused(editor, replaced);
        OnnxModel out = model.withGraph(editor.build());
        if (out.proto().getOpsetImportList().stream().anyMatch(o -> o.getDomain().equals(DynamicQuantizer.MS_DOMAIN))) {
            return out;
        }
        return out.withProto(out.proto().toBuilder()
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(DynamicQuantizer.MS_DOMAIN).setVersion(1))
                .build());
    }
}
