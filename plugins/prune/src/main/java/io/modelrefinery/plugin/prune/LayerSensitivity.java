package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.plugin.LayerSensitivity.Layer;
import io.modelrefinery.api.plugin.LayerSensitivity.Meter;
import io.modelrefinery.api.plugin.LayerSensitivity.Probe;
import io.modelrefinery.api.plugin.TransformResult;

import java.util.ArrayList;
import java.util.List;

/**
 * Each pruned layer's own output SQNR ({@link io.modelrefinery.api.plugin.LayerSensitivity}): the pruned
 * model runs with, beside every pruned layer, a copy of the dense layer reading the same input, so that the
 * SQNR of the pruned layer's output against the dense copy's measures what pruning that layer cost, apart
 * from the errors it was fed. One pass over the samples for all layers.
 */
final class LayerSensitivity {
    private LayerSensitivity() {
    }

    /** The SQNR of every layer of {@code layers} whose weights differ between {@code dense} and {@code pruned}, in graph order. */
    static List<Layer> measure(OnnxModel dense, OnnxModel pruned, List<WeightLayer> layers, LayerInputs samples) {
        GraphEditor editor = GraphEditor.of(pruned.graph());
        List<Probe> probes = new ArrayList<>();
        for (WeightLayer layer : layers) {
            String weight = editor.freshName(layer.weightName + "_dense");
            editor.putInitializer(dense.initializer(layer.weightName).orElseThrow().toProto(weight));
            NodeProto.Builder copy = layer.node.toBuilder().setName(editor.freshName(layer.name() + "_dense"));
            copy.setInput(1, weight);
            if (layer.biasName != null) {
                String bias = editor.freshName(layer.biasName + "_dense");
                editor.putInitializer(dense.initializer(layer.biasName).orElseThrow().toProto(bias));
                copy.setInput(2, bias);
            }
            String output = editor.freshName(layer.node.getOutput(0) + "_dense");
            copy.setOutput(0, output);
            editor.addNode(copy.build());
            probes.add(new Probe(layer.name(), layer.node.getOutput(0), output));
        }
        if (probes.isEmpty()) {
            return List.of();
        }
        Meter meter = new Meter(probes);
        OnnxModel summing = meter.summing(pruned.withGraph(editor.build()));
        samples.run(summing, meter.values(), 0, meter::add);
        return meter.layers();
    }

    /** {@code result} with a metric {@code layer-sqnr-db:NAME} per layer and the worst five named in a note. */
    static TransformResult report(TransformResult result, List<Layer> layers, long samples, String data) {
        return io.modelrefinery.api.plugin.LayerSensitivity.report(result, layers, "pruned", samples, data);
    }
}
