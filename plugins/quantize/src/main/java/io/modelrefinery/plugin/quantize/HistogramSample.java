package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.onnx.GraphEditor;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Which elements of a calibrated tensor its histogram counts: an evenly strided sample of every batch, about
 * {@link #VALUES} over the whole calibration, all of them for a tensor that has fewer. Counting an element
 * costs more than the inference spends producing it on a small convolutional network (a ReLU output of
 * MobileNetV3 is a handful of multiply-adds per element), so counting all of them made the histogram methods
 * cost several inference passes; a sample of a million values places 2,048 bins' worth of entropy or a
 * 99.999th percentile (ten values beyond it) within the statistical noise of the samples themselves. Every
 * sample still contributes, and the range the bins span is the ReduceMin and ReduceMax of every element.
 * The stride has no factor 2, 3, 5 or 7, so that it does not follow a channel or a row of the usual layouts.
 */
final class HistogramSample {
    /** Values each tensor's histogram is counted from over the whole calibration, about. */
    static final long VALUES = 1L << 20;

    private final GraphEditor editor;
    private final long samples;
    private final long values;
    private final boolean sliceTakesInputs;
    private final Map<Long, String> steps = new HashMap<>();
    private String flat;
    private String starts;
    private String ends;
    private String axes;

    /**
     * @param samples the calibration samples that will be read
     * @param opset the model's default-domain opset: Slice takes a step from opset 10 on; before that every
     *     element is counted
     * @param values about how many values of each tensor to count over all samples
     */
    HistogramSample(GraphEditor editor, long samples, long opset, long values) {
        this.editor = editor;
        this.samples = Math.max(1, samples);
        this.values = Math.max(1, values);
        this.sliceTakesInputs = opset >= 10;
    }

    /** Every {@code stride}-th element is counted: 1 for all of them. */
    long stride(TensorInfo info) {
        if (!sliceTakesInputs || info == null) {
            return 1;
        }
        long wanted = perSample(info) * samples / values;
        if (wanted <= 1) {
            return 1;
        }
        long stride = wanted;
        while (stride % 2 == 0 || stride % 3 == 0 || stride % 5 == 0 || stride % 7 == 0) {
            stride++;
        }
        return stride;
    }

    /** Elements of one sample of the tensor; a symbolic dimension counts as 1 (the stride errs towards more). */
    static long perSample(TensorInfo info) {
        long elements = 1;
        long[] shape = info.shape();
        for (int d = 1; d < shape.length; d++) {
            elements *= Math.max(1, shape[d]);
        }
        return elements;
    }

    /** The tensor's counted elements: itself for stride 1, else its flattened view sliced with that step. */
    String sampled(String tensor, long stride) {
        if (stride == 1) {
            return tensor;
        }
        if (flat == null) {
            flat = constant("calibration_flat", -1);
            starts = constant("calibration_slice_start", 0);
            ends = constant("calibration_slice_end", Long.MAX_VALUE);
            axes = constant("calibration_slice_axis", 0);
        }
        String step = steps.computeIfAbsent(stride, s -> constant("calibration_slice_step_" + s, s));
        String flattened = editor.freshName(tensor + "_calibration_flat");
        String sample = editor.freshName(tensor + "_calibration_sample");
        editor.addNode(OnnxHelper.node("Reshape", List.of(tensor, flat), List.of(flattened)));
        editor.addNode(OnnxHelper.node("Slice", List.of(flattened, starts, ends, axes, step), List.of(sample)));
        return sample;
    }

    private String constant(String name, long value) {
        String fresh = editor.freshName(name);
        editor.putInitializer(Tensor.ofLongs(new long[] {1}, value).toProto(fresh));
        return fresh;
    }
}
