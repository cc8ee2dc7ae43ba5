package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where each layer's Hessian comes from. {@link #oneShot} sums every layer's inputs in one pass of the float
 * model (enough to measure rounding). {@link #sequential} is GPTQ's order: a layer's inputs are summed as the
 * model computes them with every earlier layer already quantized, so that each layer compensates what
 * reaches it, not what the float model would have fed it; layers reading the same tensor (Q, K, V) share one
 * pass, which runs only the part of the graph before that tensor.
 */
abstract class LayerHessians {
    /** The Hessian of the layer's input, or {@code null} when there is none (no calibration data). */
    abstract double[] of(WeightLayer layer);

    /** Tells the source that {@code layer} now computes with {@code dequantized} ({@code rows x cols}). */
    void quantized(WeightLayer layer, float[] dequantized) {
    }

    abstract long samples();

    static LayerHessians none() {
        return new LayerHessians() {
            @Override
            double[] of(WeightLayer layer) {
                return null;
            }

            @Override
            long samples() {
                return 0;
            }
        };
    }

    static LayerHessians oneShot(HessianCollector collector, OnnxModel model, List<WeightLayer> layers) {
        Map<String, Integer> widths = new LinkedHashMap<>();
        for (WeightLayer layer : layers) {
            if (layer.isProduct()) {
                widths.put(layer.activation(), layer.cols());
            }
        }
        Map<String, double[]> hessians = collector.collect(model, widths);
        return new LayerHessians() {
            @Override
            double[] of(WeightLayer layer) {
                return layer.isProduct() ? hessians.get(layer.activation()) : null;
            }

            @Override
            long samples() {
                return collector.samples();
            }
        };
    }

    static LayerHessians sequential(HessianCollector collector, OnnxModel model) {
        return new Sequential(collector, model);
    }

    private static final class Sequential extends LayerHessians {
        private final HessianCollector collector;
        private final OnnxModel model;
        private final Map<String, double[]> cache = new HashMap<>();
        /** Node to its replacement reading the dequantized weight, in the model the passes run. */
        private final Map<NodeProto, NodeProto> rounded = new LinkedHashMap<>();
        private final Map<String, Tensor> roundedWeights = new LinkedHashMap<>();

        Sequential(HessianCollector collector, OnnxModel model) {
            this.collector = collector;
            this.model = model;
        }

        @Override
        double[] of(WeightLayer layer) {
            if (!layer.isProduct()) {
                return null;
            }
            return cache.computeIfAbsent(layer.activation(), tensor -> collector.collect(current(),
                    Map.of(tensor, layer.cols())).get(tensor));
        }

        private OnnxModel current() {
            GraphEditor editor = GraphEditor.of(model.graph());
            roundedWeights.forEach((name, tensor) -> editor.putInitializer(tensor.toProto(name)));
            rounded.forEach(editor::replaceNode);
            return model.withGraph(editor.build());
        }

        /** The float weight in the node's own layout: MatMul's [K, N]; Gemm's with alpha taken back out. */
        @Override
        void quantized(WeightLayer layer, float[] dequantized) {
            if (!layer.isProduct()) {
                return;
            }
            NodeProto node = layer.node();
            boolean transB = layer.kind() == WeightLayer.Kind.GEMM && OnnxHelper.getInt(node, "transB", 0) != 0;
            float[] stored = transB ? dequantized.clone() : BlockRounding.transpose(dequantized, layer.rows(), layer.cols());
            float alpha = layer.kind() == WeightLayer.Kind.GEMM ? OnnxHelper.getFloat(node, "alpha", 1f) : 1f;
            if (alpha != 1f) {
                for (int i = 0; i < stored.length; i++) {
                    stored[i] /= alpha;
                }
            }
            long[] shape = transB ? new long[] {layer.rows(), layer.cols()} : new long[] {layer.cols(), layer.rows()};
            String name = layer.weight() + "_rounded_" + rounded.size();
            roundedWeights.put(name, Tensor.ofFloats(shape, stored));
            rounded.put(node, node.toBuilder().setInput(1, name).build());
        }

        @Override
        long samples() {
            return collector.samples();
        }
    }
}
