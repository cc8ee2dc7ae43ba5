package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.plugin.TransformResult;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * Each pruned layer's own output SQNR: the pruned model runs with, beside every pruned layer, a copy of
 * the dense layer reading the same input, so that the ratio {@code 10 log10(sum y^2 / sum (y - y')^2)}
 * of the dense copy's output {@code y} to the pruned layer's {@code y'} measures what pruning that layer
 * cost, apart from the errors it was fed. One pass over the samples for all layers.
 */
final class LayerSensitivity {
    /** Layers named in the note, least accurate first. */
    static final int WORST = 5;

    private LayerSensitivity() {
    }

    /** A layer's own output SQNR in dB ({@link Evaluation#IDENTICAL_SQNR_DB} when unchanged). */
    record Layer(String name, double sqnrDb) {
    }

    /** The SQNR of every layer of {@code layers} whose weights differ between {@code dense} and {@code pruned}, in graph order. */
    static List<Layer> measure(OnnxModel dense, OnnxModel pruned, List<WeightLayer> layers, LayerInputs samples) {
        GraphEditor editor = GraphEditor.of(pruned.graph());
        List<String> values = new ArrayList<>();
        List<String> names = new ArrayList<>();
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
            values.add(layer.node.getOutput(0));
            values.add(output);
            names.add(layer.name());
        }
        if (names.isEmpty()) {
            return List.of();
        }
        double[] signal = new double[names.size()];
        double[] noise = new double[names.size()];
        samples.run(pruned.withGraph(editor.build()), values, 0, batch -> {
            for (int l = 0; l < names.size(); l++) {
                float[] p = batch.get(values.get(2 * l)).toFloatArray();
                float[] d = batch.get(values.get(2 * l + 1)).toFloatArray();
                for (int i = 0; i < d.length; i++) {
                    double e = d[i] - p[i];
                    signal[l] += (double) d[i] * d[i];
                    noise[l] += e * e;
                }
            }
        });
        List<Layer> out = new ArrayList<>();
        for (int l = 0; l < names.size(); l++) {
            double db = noise[l] == 0 ? Evaluation.IDENTICAL_SQNR_DB
                    : Math.min(Evaluation.IDENTICAL_SQNR_DB, 10 * Math.log10(signal[l] / noise[l]));
            out.add(new Layer(names.get(l), db));
        }
        return out;
    }

    /** {@code result} with a metric {@code layer-sqnr-db:NAME} per layer and the worst five named in a note. */
    static TransformResult report(TransformResult result, List<Layer> layers, long samples, String data) {
        if (layers.isEmpty()) {
            return result;
        }
        for (Layer layer : layers) {
            result = result.withMetric("layer-sqnr-db:" + layer.name(), layer.sqnrDb());
        }
        List<String> worst = layers.stream().sorted(Comparator.comparingDouble(Layer::sqnrDb)).limit(WORST)
                .map(l -> String.format(Locale.ROOT, "%s %.1f dB", l.name(), l.sqnrDb())).toList();
        return result.withMetric("worst-layer-sqnr-db", layers.stream().mapToDouble(Layer::sqnrDb).min().orElseThrow())
                .withNote("least accurate pruned layers, own output SQNR on " + samples + " " + data + " samples: "
                        + String.join(", ", worst));
    }
}
