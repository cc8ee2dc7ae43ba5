package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.GraphIndex;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * A Conv, Gemm or MatMul node with a constant float weight, seen as a matrix of {@code rows} outputs by
 * {@code columns} reduction inputs, per group. Columns are ordered so that each N:M group is a run of
 * consecutive columns along the reduction axis, as sparse tensor cores expect: a Gemm or MatMul weight
 * is read along K; a convolution weight {@code [O, C/g, kh, kw]} is read kernel position by kernel
 * position, input channels innermost (column {@code k * C/g + c}), so that groups run along the input
 * channels.
 */
final class WeightLayer {
    enum Kind { CONV, GEMM, MATMUL }

    final NodeProto node;
    final Kind kind;
    final String weightName;
    /** The activation input: the reduction side. */
    final String input;
    final long[] shape;
    final int groups;
    /** Output units per group. */
    final int rows;
    /** Reduction inputs per output unit: {@code C/g * kh * kw} for a convolution, K otherwise. */
    final int columns;
    /** Input channels per group, for convolutions; K otherwise. */
    final int channelsPerGroup;
    /** Kernel positions {@code kh * kw} (1 for Gemm and MatMul). */
    final int kernelSize;
    /** The bias initializer (Conv's B, Gemm's C), if the node has a constant one-dimensional bias. */
    final String biasName;
    /** For Gemm: whether the weight is stored {@code [N, K]}. */
    final boolean transposed;

    private WeightLayer(NodeProto node, Kind kind, String weightName, String input, long[] shape, int groups,
                        int rows, int columns, int channelsPerGroup, int kernelSize, String biasName, boolean transposed) {
        this.node = node;
        this.kind = kind;
        this.weightName = weightName;
        this.input = input;
        this.shape = shape;
        this.groups = groups;
        this.rows = rows;
        this.columns = columns;
        this.channelsPerGroup = channelsPerGroup;
        this.kernelSize = kernelSize;
        this.biasName = biasName;
        this.transposed = transposed;
    }

    /** A name for messages and reports: the node's name, or its weight's when the node has none. */
    String name() {
        return node.getName().isEmpty() ? weightName : node.getName();
    }

    /** Whether {@code name} designates this layer: its node's name or its weight's. */
    boolean named(String name) {
        return name.equals(node.getName()) || name.equals(weightName);
    }

    long weightCount() {
        return (long) groups * rows * columns;
    }

    /** Output channels (Conv) or units (Gemm, MatMul) in all. */
    int outputs() {
        return groups * rows;
    }

    /** Whether N:M groups of {@code m} fit the reduction axis: input channels per group (Conv) or K. */
    boolean divisibleBy(int m) {
        return channelsPerGroup % m == 0;
    }

    /**
     * The prunable layers of {@code model} among {@code opTypes}, in graph order: Conv (any rank), Gemm
     * without transA, MatMul with a two-dimensional weight, each with a float initializer weight that no
     * other node reads.
     */
    static List<WeightLayer> find(OnnxModel model, Set<String> opTypes) {
        GraphIndex index = GraphIndex.of(model.graph());
        List<WeightLayer> layers = new ArrayList<>();
        for (NodeProto node : index.topologicalOrder()) {
            if (!opTypes.contains(node.getOpType()) || !node.getDomain().isEmpty()) {
                continue;
            }
            of(node, index).ifPresent(layers::add);
        }
        return layers;
    }

    /** {@code node} as a prunable layer, if it is one (see {@link #find}). */
    static Optional<WeightLayer> of(NodeProto node, GraphIndex index) {
        if (node.getInputCount() < 2) {
            return Optional.empty();
        }
        String weight = node.getInput(1);
        Optional<TensorProto> init = index.initializer(weight);
        if (init.isEmpty() || init.get().getDataType() != DataType.FLOAT.code() || index.consumers(weight).size() != 1
                || index.isGraphInput(weight)) {
            return Optional.empty();
        }
        long[] shape = init.get().getDimsList().stream().mapToLong(Long::longValue).toArray();
        String bias = null;
        if (node.getInputCount() > 2 && !node.getInput(2).isEmpty()) {
            Optional<TensorProto> b = index.initializer(node.getInput(2));
            if (b.isPresent() && b.get().getDimsCount() == 1 && b.get().getDataType() == DataType.FLOAT.code()
                    && index.consumers(node.getInput(2)).size() == 1) {
                bias = node.getInput(2);
            } else {
                return Optional.empty(); // a bias that is not ours to rewrite: leave the layer alone
            }
        }
        switch (node.getOpType()) {
            case "Conv": {
                if (shape.length < 3) {
                    return Optional.empty();
                }
                int groups = (int) OnnxHelper.getInt(node, "group", 1);
                int kernel = 1;
                for (int d = 2; d < shape.length; d++) {
                    kernel *= (int) shape[d];
                }
                int cPerGroup = (int) shape[1];
                if (shape[0] % groups != 0) {
                    return Optional.empty();
                }
                return Optional.of(new WeightLayer(node, Kind.CONV, weight, node.getInput(0), shape, groups,
                        (int) (shape[0] / groups), cPerGroup * kernel, cPerGroup, kernel, bias, false));
            }
            case "Gemm": {
                if (shape.length != 2 || OnnxHelper.getInt(node, "transA", 0) != 0) {
                    return Optional.empty();
                }
                boolean transB = OnnxHelper.getInt(node, "transB", 0) != 0;
                int n = (int) (transB ? shape[0] : shape[1]);
                int k = (int) (transB ? shape[1] : shape[0]);
                if (bias != null && index.initializer(bias).orElseThrow().getDims(0) != n) {
                    bias = null; // a broadcast scalar bias: keep it as it is
                }
                return Optional.of(new WeightLayer(node, Kind.GEMM, weight, node.getInput(0), shape, 1, n, k, k, 1,
                        bias, transB));
            }
            case "MatMul": {
                if (shape.length != 2) {
                    return Optional.empty();
                }
                return Optional.of(new WeightLayer(node, Kind.MATMUL, weight, node.getInput(0), shape, 1,
                        (int) shape[1], (int) shape[0], (int) shape[0], 1, null, false));
            }
            default:
                return Optional.empty();
        }
    }

    /** Flat index in the weight tensor of row {@code r} (within group {@code g}), column {@code j}. */
    long flatIndex(int g, int r, int j) {
        switch (kind) {
            case CONV: {
                int k = j / channelsPerGroup;
                int c = j % channelsPerGroup;
                long o = (long) g * rows + r;
                return (o * channelsPerGroup + c) * kernelSize + k;
            }
            case GEMM:
                return transposed ? (long) r * columns + j : (long) j * rows + r;
            default:
                return (long) j * rows + r;
        }
    }

    /** The weight as {@code [group][row][column]}. */
    double[][][] matrix(Tensor weight) {
        float[] w = weight.toFloatArray();
        double[][][] m = new double[groups][rows][columns];
        for (int g = 0; g < groups; g++) {
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < columns; j++) {
                    m[g][r][j] = w[(int) flatIndex(g, r, j)];
                }
            }
        }
        return m;
    }

    /** The weight tensor holding {@code m}, laid out as {@link #matrix} reads it. */
    Tensor tensor(double[][][] m) {
        float[] w = new float[(int) weightCount()];
        for (int g = 0; g < groups; g++) {
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < columns; j++) {
                    w[(int) flatIndex(g, r, j)] = (float) m[g][r][j];
                }
            }
        }
        return Tensor.ofFloats(shape, w);
    }
}
