package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.List;

/**
 * One layer of {@code method=sparsegpt} ready to prune to any count, from one pass over its calibration
 * inputs: exact OBS ({@link ObsPruner}, its steps recorded once, so that the sensitivity levels cost one
 * factorization) where {@code rows * K^2} is small enough, else SparseGPT's lazy blocks
 * ({@link Reconstructor}). A layer whose output goes straight
 * into a Softmax (the classifier) is fitted for the probabilities rather than the logits: each output
 * row gets its own statistics, every sample weighted by that class's {@code p (1 - p)} under the dense
 * model (the diagonal of the softmax's Fisher information) plus a floor, so that the weights kept are
 * those that decide the close calls rather than those that move logits the softmax ignores. Only with
 * enough calibration samples ({@link #MIN_SAMPLES_PER_INPUT}).
 */
final class SparseGptLayer {
    /** Share of the largest Fisher weight every sample keeps: confident samples still count. */
    static final double FLOOR = 0.02;
    /**
     * Calibration samples per layer input the weighting needs: it leans on the few uncertain samples,
     * and with fewer its statistics fit the calibration set rather than the task (on the ten-class
     * model: 1.5 points lost at 80% with 512 samples for 601 inputs, 0.5 won with 1,024, 1 with 4,096).
     * Below it the layer is fitted by plain least squares.
     */
    static final double MIN_SAMPLES_PER_INPUT = 1.5;

    private final Reconstructor[] groups;
    private final OnnxModel current;
    private final OnnxModel original;
    private final WeightLayer layer;
    private final PrunePattern pattern;
    private final double damp;
    private final ObsPruner[] exact;

    SparseGptLayer(OnnxModel current, OnnxModel original, WeightLayer layer, PrunePattern pattern, double damp,
                   LayerInputs inputs, boolean same) {
        this.current = current;
        this.original = original;
        this.layer = layer;
        this.pattern = pattern;
        this.damp = damp;
        long k = layer.columns + 1L;
        boolean small = (long) layer.rows * k * k <= ObsPruner.MAX_ENTRIES;
        double[][][] dense = LayerBias.withBias(layer, original);
        double[][][] start = LayerBias.withBias(layer, current);
        if (small && layer.groups == 1 && feedsSoftmax(original, layer)
                && inputs.available() >= MIN_SAMPLES_PER_INPUT * (layer.columns + 1)) {
            groups = fisherStatistics(current, original, layer, inputs, same, dense[0]);
            exact = new ObsPruner[layer.rows];
            for (int r = 0; r < layer.rows; r++) {
                exact[r] = new ObsPruner(groups[r].prepare(new double[][] {dense[0][r]},
                        new double[][] {start[0][r]}, damp), layer.columns, pattern.n(), pattern.m());
            }
        } else if (small) {
            groups = ReconstructPruning.statistics(current, original, layer, layer, inputs, same);
            exact = new ObsPruner[layer.groups];
            for (int g = 0; g < exact.length; g++) {
                exact[g] = new ObsPruner(groups[g].prepare(dense[g], start[g], damp), layer.columns, pattern.n(),
                        pattern.m());
            }
        } else {
            groups = ReconstructPruning.statistics(current, original, layer, layer, inputs, same);
            exact = null;
        }
    }

    double[][][] weights(long count) {
        if (exact == null) {
            return ReconstructPruning.solve(groups, current, original, layer, layer, pattern, count, damp, null);
        }
        if (exact.length != layer.groups) { // one pruner per row: the count spread over all of them
            double[][] rows = pattern.nOfM() ? ObsPruner.all(exact) : ObsPruner.weights(exact, count);
            return new double[][][] {rows};
        }
        double[][][] out = new double[exact.length][][];
        long assigned = 0;
        for (int g = 0; g < exact.length; g++) {
            long share = Math.round((double) count * (g + 1) / exact.length) - assigned;
            assigned += share;
            out[g] = pattern.nOfM() ? exact[g].all() : exact[g].weights(share);
        }
        return out;
    }

    private static boolean feedsSoftmax(OnnxModel model, WeightLayer layer) {
        if (layer.kind == WeightLayer.Kind.CONV) {
            return false;
        }
        List<NodeProto> readers = GraphIndex.of(model.graph()).consumers(layer.node.getOutput(0));
        if (readers.size() != 1) {
            return false;
        }
        NodeProto node = readers.get(0);
        long axis = OnnxHelper.getInt(node, "axis", -1);
        return (node.getOpType().equals("Softmax") || node.getOpType().equals("LogSoftmax"))
                && node.getDomain().isEmpty() && (axis == -1 || axis == 1);
    }

    /** Per output row, input statistics with each sample weighted by the dense softmax's {@code p (1 - p)}. */
    private static Reconstructor[] fisherStatistics(OnnxModel current, OnnxModel original, WeightLayer layer,
                                                    LayerInputs inputs, boolean same, double[][] dense) {
        boolean bias = LayerBias.present(layer);
        int columns = layer.columns + (bias ? 1 : 0);
        Reconstructor[] rows = new Reconstructor[layer.rows];
        for (int r = 0; r < rows.length; r++) {
            rows[r] = new Reconstructor(columns, columns, same);
        }
        double alpha = layer.kind == WeightLayer.Kind.GEMM
                ? OnnxHelper.getFloat(layer.node, "alpha", 1f) : 1;
        double[] logits = new double[layer.rows];
        inputs.stream(original, layer.input, same ? null : current, layer.input, (d, p) ->
                InputRows.forEach(layer, d, layer, p, (g, xd, xp) -> {
                    double max = Double.NEGATIVE_INFINITY;
                    for (int r = 0; r < logits.length; r++) {
                        double z = 0;
                        for (int j = 0; j < columns; j++) {
                            z += dense[r][j] * xd[j];
                        }
                        logits[r] = alpha * z;
                        max = Math.max(max, logits[r]);
                    }
                    double sum = 0;
                    for (int r = 0; r < logits.length; r++) {
                        logits[r] = Math.exp(logits[r] - max);
                        sum += logits[r];
                    }
                    for (int r = 0; r < logits.length; r++) {
                        double prob = logits[r] / sum;
                        rows[r].add(xd, xp, prob * (1 - prob) + FLOOR * 0.25);
                    }
                }));
        return rows;
    }
}
