package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.plugin.LayerSensitivity;
import io.modelrefinery.api.plugin.LayerSensitivity.Probe;
import io.modelrefinery.api.plugin.TransformContext;
import io.modelrefinery.api.plugin.TransformResult;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Each quantized layer's own output SQNR ({@link LayerSensitivity}) for static and dynamic quantization: beside
 * every quantized node with a constant float weight, the quantized model gets a copy of the original float
 * node, with the original constants, reading what the quantized node reads. In QDQ form that is the
 * dequantized activations, so a statically quantized layer is charged for its 8-bit weights and bias (the
 * part that leaving it in float takes back; activation rounding shows in the model's SQNR); a dynamically
 * quantized node reads float and is charged for its run-time input rounding too, which happens inside it.
 */
final class QuantizedLayerSensitivity {
    /**
     * Samples the measurement runs at most. It runs the quantized graph unoptimized, with a float copy of
     * every layer, some ten times the cost of a plain pass per sample (13 s for 128 samples of MobileNetV2,
     * more than its calibration); every layer output holds thousands of values a sample, so 32 samples rank
     * the layers as well as all of them.
     */
    static final long MAX_SAMPLES = 32;

    private QuantizedLayerSensitivity() {
    }

    /**
     * {@code result} with the sensitivity of {@code layers} (nodes of {@code original}, quantized in
     * {@code quantized}) measured on up to {@code maxSamples} of {@code data} (all for 0), never more than
     * {@link #MAX_SAMPLES}; as it is when
     * none of them has a constant float weight.
     *
     * @param kind which samples these are ("calibration", "evaluation")
     */
    static TransformResult report(TransformContext context, TransformResult result, OnnxModel original,
                                  OnnxModel quantized, List<NodeProto> layers, Dataset data, String kind,
                                  int batchSize, long maxSamples) {
        GraphIndex before = GraphIndex.of(original.graph());
        GraphIndex after = GraphIndex.of(quantized.graph());
        Set<String> present = values(quantized);
        GraphEditor editor = GraphEditor.of(quantized.graph());
        List<Probe> probes = new ArrayList<>();
        for (NodeProto node : layers) {
            if (node.getOutputCount() != 1 || !hasFloatWeight(node, before)) {
                continue;
            }
            Optional<NodeProto> rewritten = counterpart(node, after);
            if (rewritten.isPresent() && readsIntegerConstant(rewritten.get(), after)) {
                continue; // a Gather of an int8 table writes int8 codes, dequantized after it: not comparable
            }
            NodeProto.Builder copy = node.toBuilder().setName(editor.freshName(DynamicQuantizer.baseName(node) + "_float"));
            boolean wired = true;
            for (int i = 0; i < node.getInputCount(); i++) {
                String in = node.getInput(i);
                Optional<TensorProto> constant = before.initializer(in);
                if (constant.isPresent()) {
                    String name = editor.freshName(in + "_float");
                    editor.putInitializer(constant.get().toBuilder().setName(name).build());
                    copy.setInput(i, name);
                } else if (!in.isEmpty()) {
                    int index = i;
                    String read = rewritten.map(r -> r.getInput(index)).orElse(in);
                    wired &= present.contains(read);
                    copy.setInput(i, read);
                }
            }
            String changed = rewritten.map(r -> r.getOutput(0)).orElse(node.getOutput(0));
            if (!wired || !present.contains(changed)) {
                continue; // the rewrite renamed what the layer reads or writes: not comparable
            }
            String reference = editor.freshName(node.getOutput(0) + "_float");
            editor.addNode(copy.setOutput(0, reference).build());
            probes.add(new Probe(DynamicQuantizer.baseName(node), changed, reference));
        }
        if (probes.isEmpty()) {
            return result;
        }
        LayerSensitivity.Measured measured = LayerSensitivity.measure(context.inference(),
                quantized.withGraph(editor.build()), probes, data, batchSize,
                maxSamples == 0 ? MAX_SAMPLES : Math.min(maxSamples, MAX_SAMPLES), context.cancellation());
        return LayerSensitivity.report(result, measured.layers(), "quantized", measured.samples(), kind);
    }

    /** Whether the node reads a float constant of rank 2 or more (a weight, not only a bias or a scalar). */
    private static boolean hasFloatWeight(NodeProto node, GraphIndex index) {
        return node.getInputList().stream().map(index::initializer).flatMap(Optional::stream)
                .anyMatch(t -> t.getDataType() == DataType.FLOAT.code() && t.getDimsCount() >= 2);
    }

    /** Whether the node reads an integer constant: a table or weight stored quantized. */
    private static boolean readsIntegerConstant(NodeProto node, GraphIndex index) {
        return node.getInputList().stream().map(index::initializer).flatMap(Optional::stream)
                .anyMatch(t -> t.getDataType() == DataType.INT8.code() || t.getDataType() == DataType.UINT8.code());
    }

    /** The node the quantizer kept in place of {@code node} (QDQ form, same type and name), if any. */
    private static Optional<NodeProto> counterpart(NodeProto node, GraphIndex after) {
        return after.nodes().stream().filter(n -> n.getOpType().equals(node.getOpType())
                        && n.getInputCount() == node.getInputCount()
                        && (node.getName().isEmpty() ? n.getOutput(0).equals(node.getOutput(0)) : n.getName().equals(node.getName())))
                .findFirst();
    }

    /** Every value the quantized graph has: inputs, initializers and node outputs. */
    private static Set<String> values(OnnxModel model) {
        Set<String> values = new HashSet<>();
        model.graph().getInputList().forEach(v -> values.add(v.getName()));
        model.graph().getInitializerList().forEach(t -> values.add(t.getName()));
        model.graph().getNodeList().forEach(n -> values.addAll(n.getOutputList()));
        return values;
    }
}
