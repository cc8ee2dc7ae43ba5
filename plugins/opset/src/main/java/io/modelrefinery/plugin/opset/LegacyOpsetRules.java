package io.modelrefinery.plugin.opset;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.Tensor;

import java.util.List;
import java.util.function.Predicate;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;
import static io.modelrefinery.api.onnx.OnnxHelper.node;

/**
 * What changed in ONNX operator signatures from opset 6 to 13, as rewrites upward only (the conversion
 * targets opset 13 or later). Each rule follows the ONNX version converter's adapter for the same change
 * ({@code onnx/version_converter/adapters}), where it has one; changes that only widen types or allow
 * negative axes need no rewrite.
 */
final class LegacyOpsetRules {
    private LegacyOpsetRules() {
    }

    /** Registers one rule: the operator, the version whose signature differs from the one before, the rewrite. */
    interface Registry {
        void rule(String op, int version, Predicate<NodeRewrite> up);
    }

    /** ONNX's experimental operators, dropped from the operator set at opset 10. */
    private static final List<String> EXPERIMENTAL = List.of("Crop", "ScaledTanh", "ParametricSoftplus", "Affine",
            "DynamicSlice", "GivenTensorFill", "ConstantFill", "GRUUnit", "Scale");

    /** Operators that broadcast by attribute before opset 7 and as NumPy does from 7 (broadcast_forward_compatibility). */
    private static final List<String> BROADCASTING = List.of("Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor",
            "Equal", "Greater", "Less");

    static void register(Registry r) {
        for (String op : BROADCASTING) {
            r.rule(op, 7, LegacyOpsetRules::numpyBroadcasting);
        }
        r.rule("Gemm", 7, n -> drop(n, "broadcast")); // from 7, C always broadcasts as broadcast=1 allowed
        r.rule("BatchNormalization", 7, n -> drop(n, "is_test")); // inference either way for a runtime
        r.rule("Dropout", 7, n -> drop(n, "is_test"));
        r.rule("BatchNormalization", 9, LegacyOpsetRules::batchNormWithoutSpatial);
        r.rule("Upsample", 10, LegacyOpsetRules::upsampleToResize);
        r.rule("Resize", 11, LegacyOpsetRules::resizeWithRoi);
        r.rule("Dropout", 10, LegacyOpsetRules::dropoutMaskIsBool);
        r.rule("Dropout", 12, n -> floatAttributeToInput(n, "ratio", 1, DataType.FLOAT));
        r.rule("Slice", 10, LegacyOpsetRules::sliceAttributesToInputs);
        r.rule("TopK", 10, n -> intsAttributeToInput(n, "k", 1, true));
        r.rule("Clip", 11, n -> floatAttributeToInput(n, "min", 1, n.elementType(0))
                | floatAttributeToInput(n, "max", 2, n.elementType(0)));
        r.rule("Pad", 11, LegacyOpsetRules::padAttributesToInputs);
        r.rule("Scatter", 11, n -> {
            n.setOpType("ScatterElements"); // the same operator under its new name (scatter_10_11)
            return true;
        });
        r.rule("Split", 13, n -> intsAttributeToInput(n, "split", 1, false));
        r.rule("Squeeze", 13, n -> intsAttributeToInput(n, "axes", 1, false));
        r.rule("Unsqueeze", 13, n -> intsAttributeToInput(n, "axes", 1, false));
        r.rule("ReduceSum", 13, n -> intsAttributeToInput(n, "axes", 1, false));
        for (String op : List.of("Softmax", "LogSoftmax", "Hardmax")) {
            r.rule(op, 13, LegacyOpsetRules::softmaxOnOneAxis);
        }
        r.rule("Scan", 9, n -> {
            throw n.refuse("Scan before opset 9 has a batch axis and sequence lengths, which later versions lack");
        });
        r.rule("ImageScaler", 10, LegacyOpsetRules::imageScalerAsMulAdd);
        for (String op : EXPERIMENTAL) {
            r.rule(op, 10, n -> {
                throw n.refuse(op + " was an experimental operator, removed at opset 10");
            });
        }
    }

    /**
     * Before opset 7, {@code broadcast=1} lets B match A's dimensions from {@code axis} on (by default, A's
     * trailing ones); from 7 B aligns with A's trailing dimensions. B gets trailing 1s where they differ.
     */
    private static boolean numpyBroadcasting(NodeRewrite n) {
        boolean broadcast = n.intAttribute("broadcast", 0) == 1;
        boolean changed = drop(n, "broadcast") | n.attribute("axis").isPresent();
        if (!broadcast || n.attribute("axis").isEmpty()) {
            n.removeAttribute("axis");
            return changed;
        }
        long axis = n.intAttribute("axis", 0);
        n.removeAttribute("axis");
        int rankA = n.requireRank(0, "to align its broadcast input");
        int rankB = n.requireRank(1, "to align its broadcast input");
        long start = axis < 0 ? axis + rankA : axis;
        int trailing = (int) (rankA - start - rankB);
        if (trailing > 0) {
            long[] axes = new long[trailing];
            for (int i = 0; i < trailing; i++) {
                axes[i] = rankB + i;
            }
            String aligned = n.freshName("aligned");
            n.addBefore(node("Unsqueeze", List.of(n.input(1).orElseThrow(), n.constant(Tensor.ofLongs(
                    new long[] {trailing}, axes), "axes")), List.of(aligned)));
            n.setInput(1, aligned);
        }
        return true;
    }

    private static boolean drop(NodeRewrite n, String name) {
        if (n.attribute(name).isEmpty()) {
            return false;
        }
        n.removeAttribute(name);
        return true;
    }

    /** Opset 9 dropped {@code spatial}: statistics are always per channel, as spatial=1 meant (batch_normalization_8_9). */
    private static boolean batchNormWithoutSpatial(NodeRewrite n) {
        if (n.attribute("spatial").isEmpty()) {
            return false;
        }
        if (n.intAttribute("spatial", 1) != 1) {
            throw n.refuse("spatial=0 (statistics per activation) does not exist from opset 9");
        }
        n.removeAttribute("spatial");
        return true;
    }

    /**
     * Upsample became Resize at opset 10. Upsample picks the source pixel {@code floor(y / scale)} and
     * interpolates linearly in the same coordinates: Resize's asymmetric coordinates, nearest_mode floor.
     */
    private static boolean upsampleToResize(NodeRewrite n) {
        String scales = n.input(1).orElse(null);
        if (scales == null) { // before opset 9 the scales are an attribute
            List<Float> given = n.floatsAttribute("scales");
            if (given.isEmpty()) {
                throw n.refuse("it has no scales");
            }
            float[] values = new float[given.size()];
            for (int i = 0; i < values.length; i++) {
                values[i] = given.get(i);
            }
            scales = n.constant(Tensor.ofFloats(new long[] {values.length}, values), "scales");
            n.removeAttribute("scales");
        }
        n.setOpType("Resize");
        String mode = n.stringAttribute("mode", "nearest");
        n.setAttribute(attr("mode", mode.equals("bilinear") ? "linear" : mode));
        n.setInput(1, "");
        n.setInput(2, scales);
        inAsymmetricCoordinates(n);
        return true;
    }

    /** Opset 11 put a region of interest before Resize's scales and made coordinates a choice (resize_10_11). */
    private static boolean resizeWithRoi(NodeRewrite n) {
        String scales = n.input(1).orElseThrow(() -> n.refuse("it has no scales"));
        n.setInput(1, "");
        n.setInput(2, scales);
        inAsymmetricCoordinates(n);
        return true;
    }

    /** The coordinates of Resize 10 and of Upsample, in Resize 11's terms. */
    private static void inAsymmetricCoordinates(NodeRewrite n) {
        n.setAttribute(attr("coordinate_transformation_mode", "asymmetric"));
        if (n.stringAttribute("mode", "nearest").equals("nearest")) {
            n.setAttribute(attr("nearest_mode", "floor"));
        }
    }

    /** Opset 10 made Dropout's mask boolean; a model that reads the old mask as numbers is refused. */
    private static boolean dropoutMaskIsBool(NodeRewrite n) {
        if (n.optionalOutput(1).isPresent()) {
            throw n.refuse("its mask output is of the data's type before opset 10 and boolean after");
        }
        return false;
    }

    /** Opset 10 moved Slice's starts, ends and axes from attributes to inputs (slice_9_10). */
    private static boolean sliceAttributesToInputs(NodeRewrite n) {
        if (n.input(1).isPresent()) {
            return false;
        }
        List<Long> starts = n.intsAttribute("starts");
        List<Long> ends = n.intsAttribute("ends");
        n.setInput(1, n.constant(longs(starts), "starts"));
        n.setInput(2, n.constant(longs(ends), "ends"));
        if (n.attribute("axes").isPresent()) {
            n.setInput(3, n.constant(longs(n.intsAttribute("axes")), "axes"));
        }
        n.removeAttribute("starts");
        n.removeAttribute("ends");
        n.removeAttribute("axes");
        return true;
    }

    /** Opset 11 moved Pad's pads and value from attributes to inputs (pad_10_11). */
    private static boolean padAttributesToInputs(NodeRewrite n) {
        if (n.attribute("pads").isEmpty()) {
            return false;
        }
        n.setInput(1, n.constant(longs(n.intsAttribute("pads")), "pads"));
        n.removeAttribute("pads");
        boolean constantMode = n.stringAttribute("mode", "constant").equals("constant");
        if (constantMode) {
            floatAttributeToInput(n, "value", 2, n.elementType(0));
        }
        n.removeAttribute("value");
        return true;
    }

    /**
     * Softmax, LogSoftmax and Hardmax before opset 13 flatten their input to 2-D at {@code axis} (default 1)
     * and normalize each row; from 13 they normalize along {@code axis} alone (default -1). The same when
     * the axis is the last; otherwise Flatten, the operator on the last axis and a Reshape back, as in
     * softmax_12_13.
     */
    private static boolean softmaxOnOneAxis(NodeRewrite n) {
        long axis = n.intAttribute("axis", 1);
        Integer rank = n.rank(0).orElse(null);
        if (rank != null && (axis == -1 || axis == rank - 1)) {
            n.setAttribute(attr("axis", -1L));
            return true;
        }
        String x = n.input(0).orElseThrow();
        String flat = n.freshName("flat");
        String shape = n.freshName("shape");
        String y = n.output(0);
        String rows = n.freshName("rows");
        n.addBefore(node("Flatten", List.of(x), List.of(flat), attr("axis", axis)));
        n.addBefore(node("Shape", List.of(x), List.of(shape)));
        n.setInput(0, flat);
        n.setAttribute(attr("axis", -1L));
        n.setOutput(0, rows);
        n.addAfter(node("Reshape", List.of(rows, shape), List.of(y)));
        return true;
    }

    /** ImageScaler (experimental, dropped at opset 10): {@code scale * x + bias[c]} per channel of NCHW input. */
    private static boolean imageScalerAsMulAdd(NodeRewrite n) {
        DataType type = n.elementType(0);
        List<Float> bias = n.floatsAttribute("bias");
        float scale = n.floatAttribute("scale", 1f);
        double[] values = new double[bias.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = bias.get(i);
        }
        String x = n.input(0).orElseThrow();
        String scaled = n.freshName("scaled");
        String scaleName = n.constant(Tensor.fromDoubles(type, new long[0], new double[] {scale}), "scale");
        String biasName = n.constant(Tensor.fromDoubles(type, new long[] {values.length, 1, 1}, values), "bias");
        n.replaceWith(List.of(node("Mul", List.of(x, scaleName), List.of(scaled)),
                node("Add", List.of(scaled, biasName), List.of(n.output(0)))));
        return true;
    }

    // ---------------------------------------------------------------- attributes to inputs

    /**
     * Moves an integer-list attribute to input {@code index} as an int64 tensor (axes_attribute_to_input);
     * {@code scalarAsList} makes a single integer a one-element list (TopK's k).
     */
    private static boolean intsAttributeToInput(NodeRewrite n, String name, int index, boolean scalarAsList) {
        if (n.attribute(name).isEmpty()) {
            return false;
        }
        List<Long> values = scalarAsList ? List.of(n.intAttribute(name, 0)) : n.intsAttribute(name);
        n.removeAttribute(name);
        n.setInput(index, n.constant(longs(values), name));
        return true;
    }

    /** Moves a float attribute to input {@code index} as a scalar of {@code type} (clip_10_11, dropout_11_12). */
    private static boolean floatAttributeToInput(NodeRewrite n, String name, int index, DataType type) {
        if (n.attribute(name).isEmpty()) {
            return false;
        }
        double value = n.floatAttribute(name, 0f);
        n.removeAttribute(name);
        n.setInput(index, n.constant(Tensor.fromDoubles(type, new long[0], new double[] {value}), name));
        return true;
    }

    private static Tensor longs(List<Long> values) {
        return Tensor.ofLongs(new long[] {values.size()}, values.stream().mapToLong(Long::longValue).toArray());
    }
}
