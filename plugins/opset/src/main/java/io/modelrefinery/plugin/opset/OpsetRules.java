package io.modelrefinery.plugin.opset;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.AttributeProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;
import static io.modelrefinery.api.onnx.OnnxHelper.node;

/**
 * What changed in ONNX operator signatures from opset 13 to 26, as rewrites up and down across each
 * change (facts from ONNX's operator changelog); the changes from 7 to 13, upward only, are
 * {@link LegacyOpsetRules}. Versions that only widen the accepted types need no
 * rewrite: ONNX Runtime's load check catches a type an older version lacks.
 */
final class OpsetRules {
    private OpsetRules() {
    }

    /** A signature change of one operator at {@code version}; each direction returns whether it changed the node. */
    private record Rule(int version, Predicate<NodeRewrite> up, Predicate<NodeRewrite> down) {
    }

    private static final Map<String, List<Rule>> RULES = new HashMap<>();

    /** Operators added after opset 13, with the version that added them. */
    private static final Map<String, Integer> INTRODUCED = new HashMap<>();

    private static final Set<String> REDUCTIONS_MOVED_AT_18 = Set.of("ReduceL1", "ReduceL2", "ReduceLogSum",
            "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSumSquare");

    static {
        for (String op : REDUCTIONS_MOVED_AT_18) {
            rule(op, 18, OpsetRules::axesToInput, OpsetRules::axesToAttribute);
        }
        rule("Split", 18, OpsetRules::splitNumOutputs, OpsetRules::splitSizes);
        rule("Pad", 18, n -> false, OpsetRules::padAllAxes);
        rule("Pad", 19, n -> false, n -> refuseIf(n, n.stringAttribute("mode", "constant").equals("wrap"),
                "mode 'wrap' exists from opset 19"));
        rule("Resize", 18, n -> false, OpsetRules::resizeWithoutAxes);
        rule("Resize", 19, n -> false, n -> refuseIf(n, n.stringAttribute("coordinate_transformation_mode", "")
                .equals("half_pixel_symmetric"), "coordinate_transformation_mode 'half_pixel_symmetric' exists from "
                + "opset 19"));
        rule("AveragePool", 19, n -> false, n -> dropDefault(n, "dilations", OpsetRules::allOnes,
                "dilations other than 1 exist from opset 19"));
        rule("LpPool", 18, n -> false, n -> dropDefault(n, "ceil_mode", a -> a.getI() == 0, "ceil_mode exists from "
                + "opset 18") | dropDefault(n, "dilations", OpsetRules::allOnes, "dilations exist from opset 18"));
        for (String op : List.of("ScatterElements", "ScatterND")) {
            rule(op, 16, n -> false, n -> dropDefault(n, "reduction", a -> a.getS().toStringUtf8().equals("none"),
                    "reductions exist from opset 16"));
            rule(op, 18, n -> false, n -> refuseIf(n, Set.of("max", "min").contains(n.stringAttribute("reduction",
                    "none")), "reductions max and min exist from opset 18"));
        }
        rule("RoiAlign", 16, OpsetRules::roiAlignKeepsItsPixels, n -> dropDefault(n,
                "coordinate_transformation_mode", a -> a.getS().toStringUtf8().equals("output_half_pixel"),
                "before opset 16 RoiAlign only has output_half_pixel coordinates", true));
        rule("Shape", 15, n -> false, OpsetRules::shapeSlice);
        rule("Reshape", 14, n -> false, OpsetRules::reshapeWithoutAllowZero);
        rule("BatchNormalization", 14, n -> refuseIf(n, n.outputCount() > 1, "it computes training statistics, "
                + "which opset 14 describes differently"), n -> dropDefault(n, "training_mode", a -> a.getI() == 0,
                "training mode exists from opset 14"));
        for (String op : List.of("GRU", "LSTM", "RNN")) {
            rule(op, 14, n -> false, n -> dropDefault(n, "layout", a -> a.getI() == 0, "batch-first layout exists "
                    + "from opset 14"));
        }
        for (String op : List.of("Cast", "CastLike")) {
            rule(op, 19, n -> false, n -> drop(n, "saturate")); // it only matters for float8 types, new in 19
            rule(op, 24, n -> false, n -> dropDefault(n, "round_mode", a -> a.getS().toStringUtf8().equals("up"),
                    "rounding modes exist from opset 24"));
        }
        rule("QuantizeLinear", 19, n -> false, n -> drop(n, "saturate"));
        rule("QuantizeLinear", 21, n -> false, OpsetRules::quantizeWithoutOutputType);
        rule("QuantizeLinear", 23, n -> false, n -> dropDefault(n, "precision", a -> a.getI() == 0,
                "the precision attribute exists from opset 23"));
        rule("DequantizeLinear", 21, n -> false, n -> dropDefault(n, "block_size", a -> a.getI() == 0,
                "blocked quantization exists from opset 21"));
        rule("DequantizeLinear", 23, n -> false, n -> dropDefault(n, "output_dtype",
                a -> a.getI() == 0 || a.getI() == n.elementType(1).code(), "an output type other than the scale's "
                        + "exists from opset 23"));
        rule("GridSample", 20, n -> renameMode(n, "bilinear", "linear") | renameMode(n, "bicubic", "cubic"),
                OpsetRules::gridSampleIn4d);
        rule("DFT", 20, OpsetRules::dftAxisToInput, OpsetRules::dftAxisToAttribute);
        rule("GroupNormalization", 21, OpsetRules::groupNormPerChannel, OpsetRules::groupNormPerGroup);
        rule("Attention", 24, n -> false, n -> refuseIf(n, n.input(6).isPresent(),
                "the nonpad_kv_seqlen input exists from opset 24"));
        rule("Attention", 25, n -> false, n -> dropDefault(n, "left_window_size", a -> a.getI() == -1,
                "windowed attention exists from opset 25") | dropDefault(n, "right_window_size", a -> a.getI() == -1,
                "windowed attention exists from opset 25"));

        LegacyOpsetRules.register((op, version, up) -> rule(op, version, up, n -> false));

        introduced(14, "Trilu", "HardSwish");
        introduced(15, "Bernoulli", "Optional", "OptionalHasElement", "OptionalGetElement", "CastLike");
        introduced(16, "GridSample");
        introduced(17, "LayerNormalization", "SequenceMap", "DFT", "HannWindow", "HammingWindow", "BlackmanWindow",
                "MelWeightMatrix", "STFT");
        introduced(18, "CenterCropPad", "Mish", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot",
                "GroupNormalization", "Col2Im");
        introduced(19, "DeformConv");
        introduced(20, "AffineGrid", "Gelu", "ImageDecoder", "RegexFullMatch", "StringConcat", "StringSplit");
        introduced(23, "Attention", "RMSNormalization", "RotaryEmbedding");
        introduced(24, "Swish", "TensorScatter");
        introduced(26, "BitCast", "CumProd");
    }

    private static void rule(String op, int version, Predicate<NodeRewrite> up, Predicate<NodeRewrite> down) {
        RULES.computeIfAbsent(op, k -> new ArrayList<>()).add(new Rule(version, up, down));
        RULES.get(op).sort((a, b) -> Integer.compare(a.version(), b.version()));
    }

    private static void introduced(int version, String... ops) {
        for (String op : ops) {
            INTRODUCED.put(op, version);
        }
    }

    /** Rewrites {@code n} from opset {@code source} to {@code target}; returns whether it changed. */
    static boolean apply(NodeRewrite n, int source, int target) {
        Integer since = INTRODUCED.get(n.opType());
        if (since != null && target < since) {
            if (decompose(n)) {
                return true;
            }
            throw n.refuse(n.opType() + " exists from opset " + since);
        }
        List<Rule> rules = RULES.getOrDefault(n.opType(), List.of());
        boolean changed = false;
        if (target > source) {
            for (Rule r : rules) {
                if (source < r.version() && r.version() <= target) {
                    changed |= r.up().test(n);
                }
            }
        } else {
            for (int i = rules.size() - 1; i >= 0; i--) {
                Rule r = rules.get(i);
                if (target < r.version() && r.version() <= source) {
                    changed |= r.down().test(n);
                }
            }
        }
        return changed;
    }

    // ---------------------------------------------------------------- reductions

    /** Opset 18 moved the axes of most reductions from an attribute to an input. */
    private static boolean axesToInput(NodeRewrite n) {
        if (n.attribute("axes").isEmpty()) {
            return false;
        }
        long[] axes = n.intsAttribute("axes").stream().mapToLong(Long::longValue).toArray();
        n.removeAttribute("axes");
        n.setInput(1, n.constant(Tensor.ofLongs(new long[] {axes.length}, axes), "axes"));
        return true;
    }

    private static boolean axesToAttribute(NodeRewrite n) {
        boolean noop = n.intAttribute("noop_with_empty_axes", 0) == 1;
        boolean changed = drop(n, "noop_with_empty_axes");
        long[] axes = n.input(1).isPresent() ? n.requireConstantInts(1, "the axes input") : new long[0];
        if (n.input(1).isPresent()) {
            n.removeInput(1);
            changed = true;
        }
        if (axes.length > 0) {
            n.setAttribute(attr("axes", axes));
        } else if (noop) { // no axes: reduce nothing
            n.replaceWithIdentity();
            changed = true;
        }
        return changed;
    }

    // ---------------------------------------------------------------- Split

    /** From opset 18 an even Split says how many parts it makes. */
    private static boolean splitNumOutputs(NodeRewrite n) {
        if (n.input(1).isPresent()) {
            return false;
        }
        n.setAttribute(attr("num_outputs", (long) n.outputCount()));
        return true;
    }

    /** Before opset 18 a Split without sizes makes equal parts, so uneven parts need their sizes. */
    private static boolean splitSizes(NodeRewrite n) {
        long parts = n.intAttribute("num_outputs", -1);
        if (parts < 0) {
            return false;
        }
        n.removeAttribute("num_outputs");
        long length = n.dim(0, (int) n.intAttribute("axis", 0));
        if (length < 0) {
            n.note("split into " + parts + " parts along a dimension of unknown size, which must divide evenly");
        } else if (length % parts != 0) {
            long part = (length + parts - 1) / parts;
            long[] sizes = new long[(int) parts];
            Arrays.fill(sizes, part);
            sizes[sizes.length - 1] = length - part * (parts - 1);
            n.setInput(1, n.constant(Tensor.ofLongs(new long[] {parts}, sizes), "split"));
        }
        return true;
    }

    // ---------------------------------------------------------------- Pad, Resize, Shape, Reshape

    /** Opset 18 lets Pad pad some axes only; before, the pads cover every axis. */
    private static boolean padAllAxes(NodeRewrite n) {
        if (n.input(3).isEmpty()) {
            return false;
        }
        long[] axes = n.requireConstantInts(3, "the axes input");
        long[] pads = n.requireConstantInts(1, "the pads input");
        int rank = n.requireRank(0, "to pad every axis");
        long[] full = new long[2 * rank];
        for (int i = 0; i < axes.length; i++) {
            int a = (int) (axes[i] < 0 ? axes[i] + rank : axes[i]);
            full[a] = pads[i];
            full[rank + a] = pads[axes.length + i];
        }
        n.setInput(1, n.constant(Tensor.ofLongs(new long[] {full.length}, full), "pads"));
        n.removeInput(3);
        return true;
    }

    /** Opset 18 added antialiasing, aspect-ratio policies and axes to Resize. */
    private static boolean resizeWithoutAxes(NodeRewrite n) {
        boolean changed = dropDefault(n, "antialias", a -> a.getI() == 0, "antialiasing exists from opset 18")
                | dropDefault(n, "keep_aspect_ratio_policy", a -> a.getS().toStringUtf8().equals("stretch"),
                "keep_aspect_ratio_policy exists from opset 18");
        if (n.attribute("axes").isEmpty()) {
            return changed;
        }
        List<Long> axes = n.intsAttribute("axes");
        n.removeAttribute("axes");
        int rank = n.requireRank(0, "to resize every axis");
        int[] positions = new int[rank];
        Arrays.fill(positions, -1);
        for (int i = 0; i < axes.size(); i++) {
            positions[(int) (axes.get(i) < 0 ? axes.get(i) + rank : axes.get(i))] = i;
        }
        Optional<Tensor> roi = n.constantInput(1);
        if (n.input(1).isPresent()) {
            double[] given = roi.orElseThrow(() -> n.refuse("the roi is computed at run time")).toDoubleArray();
            double[] full = new double[2 * rank];
            for (int a = 0; a < rank; a++) {
                full[a] = positions[a] < 0 ? 0 : given[positions[a]];
                full[rank + a] = positions[a] < 0 ? 1 : given[axes.size() + positions[a]];
            }
            n.setInput(1, n.constant(Tensor.fromDoubles(n.elementType(1), new long[] {2L * rank}, full), "roi"));
        }
        if (n.input(2).isPresent()) {
            double[] given = n.constantInput(2).orElseThrow(() -> n.refuse("the scales are computed at run time"))
                    .toDoubleArray();
            double[] full = new double[rank];
            for (int a = 0; a < rank; a++) {
                full[a] = positions[a] < 0 ? 1 : given[positions[a]];
            }
            n.setInput(2, n.constant(Tensor.fromDoubles(DataType.FLOAT, new long[] {rank}, full), "scales"));
        }
        if (n.input(3).isPresent()) {
            long[] given = n.requireConstantInts(3, "the sizes input");
            long[] full = new long[rank];
            for (int a = 0; a < rank; a++) {
                full[a] = positions[a] < 0 ? n.dim(0, a) : given[positions[a]];
                if (full[a] < 0) {
                    throw n.refuse("dimension " + a + " of its input is unknown, and is needed for its sizes");
                }
            }
            n.setInput(3, n.constant(Tensor.ofLongs(new long[] {rank}, full), "sizes"));
        }
        return true;
    }

    /** Opset 15 let Shape return part of a shape; before, a Slice does it. */
    private static boolean shapeSlice(NodeRewrite n) {
        long start = n.intAttribute("start", 0);
        Optional<Long> end = n.attribute("end").map(a -> a.getI());
        if (n.attribute("start").isEmpty() && end.isEmpty()) {
            return false;
        }
        if (start == 0 && end.isEmpty()) {
            return drop(n, "start");
        }
        String full = n.freshName("full_shape");
        n.replaceWith(List.of(node("Shape", List.of(n.input(0).orElseThrow()), List.of(full)),
                node("Slice", List.of(full, n.constant(Tensor.ofLongs(new long[] {1}, start), "start"),
                        n.constant(Tensor.ofLongs(new long[] {1}, end.orElse(Long.MAX_VALUE)), "end"),
                        n.constant(Tensor.ofLongs(new long[] {1}, 0), "axis")), List.of(n.output(0)))));
        return true;
    }

    /** Opset 14 added allowzero (a 0 in the shape means zero, not "copy"). */
    private static boolean reshapeWithoutAllowZero(NodeRewrite n) {
        if (n.intAttribute("allowzero", 0) == 1) {
            Optional<Tensor> shape = n.constantInput(1);
            if (shape.isEmpty() || Arrays.stream(shape.get().toLongArray()).anyMatch(d -> d == 0)) {
                throw n.refuse("allowzero=1 with a shape that has or may have zeros exists from opset 14");
            }
        }
        return drop(n, "allowzero");
    }

    // ---------------------------------------------------------------- quantization

    /** Opset 21 added blocked quantization and an output type for QuantizeLinear without a zero point. */
    private static boolean quantizeWithoutOutputType(NodeRewrite n) {
        boolean changed = dropDefault(n, "block_size", a -> a.getI() == 0, "blocked quantization exists from opset 21");
        long outputType = n.intAttribute("output_dtype", 0);
        changed |= drop(n, "output_dtype");
        if (outputType != 0 && outputType != DataType.UINT8.code() && n.input(2).isEmpty()) {
            Tensor scale = n.constantInput(1).orElseThrow(() -> n.refuse("its scale is computed at run time, and its "
                    + "shape is needed for the zero point that carries the output type"));
            DataType type = DataType.fromCode((int) outputType);
            n.setInput(2, n.constant(Tensor.fromDoubles(type, scale.shape(), new double[(int) scale.elementCount()]),
                    "zero_point"));
        }
        return changed;
    }

    // ---------------------------------------------------------------- other signature changes

    /** Before opset 16 RoiAlign took pixel centers at k (output_half_pixel); opset 16 defaults to k + 0.5. */
    private static boolean roiAlignKeepsItsPixels(NodeRewrite n) {
        if (n.attribute("coordinate_transformation_mode").isPresent()) {
            return false;
        }
        n.setAttribute(attr("coordinate_transformation_mode", "output_half_pixel"));
        return true;
    }

    /** Opset 20 renamed GridSample's modes (the defaults are the same interpolation) and allowed N-D input. */
    private static boolean gridSampleIn4d(NodeRewrite n) {
        refuseIf(n, n.rank(0).filter(r -> r != 4).isPresent(), "GridSample of other than 4-D input exists from "
                + "opset 20");
        return renameMode(n, "linear", "bilinear") | renameMode(n, "cubic", "bicubic");
    }

    private static boolean renameMode(NodeRewrite n, String from, String to) {
        if (!n.stringAttribute("mode", "").equals(from)) {
            return false;
        }
        n.setAttribute(attr("mode", to));
        return true;
    }

    /** Opset 20 moved DFT's axis to an input, defaulting to -2 instead of 1. */
    private static boolean dftAxisToInput(NodeRewrite n) {
        long axis = n.intAttribute("axis", 1);
        n.removeAttribute("axis");
        n.setInput(2, n.constant(Tensor.ofLongs(new long[0], axis), "axis"));
        return true;
    }

    private static boolean dftAxisToAttribute(NodeRewrite n) {
        long axis = n.input(2).isPresent() ? n.requireConstantInts(2, "the axis input")[0] : -2;
        n.removeInput(2);
        n.setAttribute(attr("axis", axis));
        return true;
    }

    /** Opset 21 gave GroupNormalization one scale and bias per channel instead of per group. */
    private static boolean groupNormPerChannel(NodeRewrite n) {
        long groups = n.intAttribute("num_groups", 0);
        long channels = n.dim(0, 1);
        if (channels < 0) {
            throw n.refuse("the number of channels of its input is unknown");
        }
        for (int i = 1; i <= 2; i++) {
            Tensor perGroup = n.constantInput(i).orElseThrow(() -> n.refuse("its scale and bias are computed at "
                    + "run time"));
            double[] values = perGroup.toDoubleArray();
            double[] perChannel = new double[(int) channels];
            for (int c = 0; c < channels; c++) {
                perChannel[c] = values[(int) (c / (channels / groups))];
            }
            n.setInput(i, n.constant(Tensor.fromDoubles(perGroup.type(), new long[] {channels}, perChannel),
                    i == 1 ? "scale" : "bias"));
        }
        return true;
    }

    private static boolean groupNormPerGroup(NodeRewrite n) {
        long groups = n.intAttribute("num_groups", 0);
        for (int i = 1; i <= 2; i++) {
            Tensor perChannel = n.constantInput(i).orElseThrow(() -> n.refuse("its scale and bias are computed at "
                    + "run time, and before opset 21 they are per group"));
            double[] values = perChannel.toDoubleArray();
            int size = (int) (values.length / groups);
            double[] perGroup = new double[(int) groups];
            for (int g = 0; g < groups; g++) {
                perGroup[g] = values[g * size];
                for (int c = g * size; c < (g + 1) * size; c++) {
                    if (values[c] != perGroup[g]) {
                        throw n.refuse("its " + (i == 1 ? "scale" : "bias") + " differs within a group of channels, "
                                + "and before opset 21 it is per group");
                    }
                }
            }
            n.setInput(i, n.constant(Tensor.fromDoubles(perChannel.type(), new long[] {groups}, perGroup),
                    i == 1 ? "scale" : "bias"));
        }
        return true;
    }

    // ---------------------------------------------------------------- operators newer than the target

    /** Writes an activation the target lacks with older operators; false if it has no such form. */
    private static boolean decompose(NodeRewrite n) {
        String x = n.input(0).orElse("");
        String y = n.output(0);
        DataType type = n.elementType(0);
        switch (n.opType()) {
            case "HardSwish" -> {
                String gate = n.freshName("gate");
                n.replaceWith(List.of(node("HardSigmoid", List.of(x), List.of(gate), attr("alpha", 1f / 6),
                        attr("beta", 0.5f)), node("Mul", List.of(x, gate), List.of(y))));
            }
            case "Mish" -> {
                String softplus = n.freshName("softplus");
                String tanh = n.freshName("tanh");
                n.replaceWith(List.of(node("Softplus", List.of(x), List.of(softplus)),
                        node("Tanh", List.of(softplus), List.of(tanh)), node("Mul", List.of(x, tanh), List.of(y))));
            }
            case "Swish" -> {
                float alpha = n.attribute("alpha").map(a -> a.getF()).orElse(1f);
                String scaled = alpha == 1f ? x : n.freshName("scaled");
                List<NodeProto> nodes = new ArrayList<>();
                if (alpha != 1f) {
                    nodes.add(node("Mul", List.of(x, scalar(n, type, alpha, "alpha")), List.of(scaled)));
                }
                String gate = n.freshName("gate");
                nodes.add(node("Sigmoid", List.of(scaled), List.of(gate)));
                nodes.add(node("Mul", List.of(x, gate), List.of(y)));
                n.replaceWith(nodes);
            }
            case "Gelu" -> n.replaceWith(gelu(n, x, y, type));
            default -> {
                return false;
            }
        }
        return true;
    }

    /** 0.5 x (1 + erf(x / sqrt 2)), or with approximate=tanh, 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))). */
    private static List<NodeProto> gelu(NodeRewrite n, String x, String y,
                                                                               DataType type) {
        List<NodeProto> nodes = new ArrayList<>();
        String inner;
        if (n.stringAttribute("approximate", "none").equals("tanh")) {
            String square = n.freshName("square");
            String cube = n.freshName("cube");
            String term = n.freshName("cubic_term");
            String sum = n.freshName("sum");
            String scaled = n.freshName("scaled");
            inner = n.freshName("tanh");
            nodes.add(node("Mul", List.of(x, x), List.of(square)));
            nodes.add(node("Mul", List.of(square, x), List.of(cube)));
            nodes.add(node("Mul", List.of(cube, scalar(n, type, 0.044715, "coefficient")), List.of(term)));
            nodes.add(node("Add", List.of(x, term), List.of(sum)));
            nodes.add(node("Mul", List.of(sum, scalar(n, type, Math.sqrt(2 / Math.PI), "sqrt_2_over_pi")),
                    List.of(scaled)));
            nodes.add(node("Tanh", List.of(scaled), List.of(inner)));
        } else {
            String scaled = n.freshName("scaled");
            inner = n.freshName("erf");
            nodes.add(node("Mul", List.of(x, scalar(n, type, 1 / Math.sqrt(2), "inv_sqrt_2")), List.of(scaled)));
            nodes.add(node("Erf", List.of(scaled), List.of(inner)));
        }
        String onePlus = n.freshName("one_plus");
        String product = n.freshName("product");
        nodes.add(node("Add", List.of(inner, scalar(n, type, 1, "one")), List.of(onePlus)));
        nodes.add(node("Mul", List.of(x, onePlus), List.of(product)));
        nodes.add(node("Mul", List.of(product, scalar(n, type, 0.5, "half")), List.of(y)));
        return nodes;
    }

    private static String scalar(NodeRewrite n, DataType type, double value, String hint) {
        return n.constant(Tensor.fromDoubles(type, new long[0], new double[] {value}), hint);
    }

    // ---------------------------------------------------------------- helpers

    private static boolean allOnes(AttributeProto a) {
        return a.getIntsList().stream().allMatch(v -> v == 1);
    }

    /** Removes an attribute the target lacks, refusing the node when its value is not the old behaviour. */
    private static boolean dropDefault(NodeRewrite n, String name,
                                       Predicate<AttributeProto> isOldBehaviour,
                                       String otherwise) {
        return dropDefault(n, name, isOldBehaviour, otherwise, false);
    }

    /**
     * @param absentIsNew whether the attribute's absence means the new default, which the target lacks
     */
    private static boolean dropDefault(NodeRewrite n, String name,
                                       Predicate<AttributeProto> isOldBehaviour,
                                       String otherwise, boolean absentIsNew) {
        Optional<AttributeProto> a = n.attribute(name);
        if (a.isEmpty()) {
            if (absentIsNew) {
                throw n.refuse(otherwise);
            }
            return false;
        }
        if (!isOldBehaviour.test(a.get())) {
            throw n.refuse(otherwise);
        }
        n.removeAttribute(name);
        return true;
    }

    private static boolean drop(NodeRewrite n, String name) {
        if (n.attribute(name).isEmpty()) {
            return false;
        }
        n.removeAttribute(name);
        return true;
    }

    private static boolean refuseIf(NodeRewrite n, boolean condition, String why) {
        if (condition) {
            throw n.refuse(why);
        }
        return false;
    }
}
