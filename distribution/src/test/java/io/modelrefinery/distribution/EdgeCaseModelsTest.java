package io.modelrefinery.distribution;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.ModelProto;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.host.pipeline.LocalRun;
import io.modelrefinery.host.pipeline.StepFailedException;
import io.modelrefinery.host.testing.ReliabilityReport;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;
import static io.modelrefinery.api.onnx.OnnxHelper.graph;
import static io.modelrefinery.api.onnx.OnnxHelper.model;
import static io.modelrefinery.api.onnx.OnnxHelper.node;
import static io.modelrefinery.api.onnx.OnnxHelper.valueInfo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every bundled ONNX transform on models at the edges of what ONNX allows: zero-size dimensions, huge
 * ones, symbolic ones everywhere, rank-0 values, no weights, no nodes, duplicate and missing node names,
 * weights listed as graph inputs (IR 3), an embedding fed by int64 ids, a weight shared by two layers.
 * Each run through the host's pipeline runner (its output check included) either keeps a model or is
 * refused or failed with one line that names what in the model or the data is the reason; never an
 * internal exception's text (an index, a negative array size, an empty Optional). Data for every role is
 * given where the model's inputs allow it, so that calibration, training and evaluation paths run too.
 */
class EdgeCaseModelsTest {
    /** Exception class names and stack frames: what a user must never see. */
    private static final Pattern INTERNAL = Pattern.compile("Exception|NullPointer|NoSuchElement|IndexOutOfBounds"
            + "|out of bounds for length|Optional\\.|No value present|\\bat [a-z]+\\.[a-z]+\\.|^-?\\d+$|^null$");
    /** Failures that are a transform's own defect whatever the model. */
    private static final Set<Class<?>> DEFECTS = Set.of(NullPointerException.class, IndexOutOfBoundsException.class,
            ArrayIndexOutOfBoundsException.class, StringIndexOutOfBoundsException.class, NegativeArraySizeException.class,
            ArithmeticException.class, java.util.NoSuchElementException.class, ClassCastException.class,
            UnsupportedOperationException.class, OutOfMemoryError.class, StackOverflowError.class);
    private static final int SAMPLES = 4;

    @TempDir
    static Path dir;
    private static List<ModelTransform> transforms;

    @BeforeAll
    static void find() throws Exception {
        transforms = BundledTransforms.all().stream().filter(t -> t.descriptor().accepts(ModelFormat.ONNX)).toList();
    }

    /** One edge case: the model, and samples for it (none when its inputs cannot be filled). */
    private record Case(String name, OnnxModel model, Map<String, Tensor> samples) {
    }

    private static OnnxModel onnx(GraphProto graph, long opset) {
        return OnnxModel.of(model(graph, opset));
    }

    private static Tensor floats(long[] shape, long seed) {
        int n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, Math.toIntExact(d));
        }
        float[] v = new float[n];
        java.util.Random random = new java.util.Random(seed);
        for (int i = 0; i < n; i++) {
            v[i] = (float) random.nextGaussian();
        }
        return Tensor.ofFloats(shape, v);
    }

    private static TensorProto weight(String name, long... shape) {
        return floats(shape, name.hashCode()).toProto(name);
    }

    private static NodeProto named(NodeProto node, String name) {
        return node.toBuilder().setName(name).build();
    }

    private static Map<String, Tensor> samples(Object... nameAndTensor) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int i = 0; i < nameAndTensor.length; i += 2) {
            out.put((String) nameAndTensor[i], (Tensor) nameAndTensor[i + 1]);
        }
        return out;
    }

    /** x [N, 4] -> MatMul W [4, 3] -> Add b -> Relu -> y; the nodes named as given. */
    private static GraphProto mlp(long[] input, long[] w, String... names) {
        List<NodeProto> nodes = List.of(named(node("MatMul", List.of("x", "w"), List.of("mm")), names[0]),
                named(node("Add", List.of("mm", "b"), List.of("pre")), names[1]),
                named(node("Relu", List.of("pre"), List.of("y")), names[2]));
        return graph("mlp", nodes, List.of(valueInfo("x", DataType.FLOAT, input)),
                List.of(valueInfo("y", DataType.FLOAT, -1, w[1])),
                List.of(weight("w", w), weight("b", w[1])));
    }

    /** x -> Conv W [8, 3, 3, 3] -> Relu -> GlobalAveragePool -> Flatten -> Gemm [8, 2] -> y. */
    private static GraphProto convNet(ValueInfoProto input) {
        List<NodeProto> nodes = List.of(
                named(node("Conv", List.of("x", "cw", "cb"), List.of("c"), attr("pads", 1, 1, 1, 1)), "conv"),
                named(node("Relu", List.of("c"), List.of("r")), "relu"),
                named(node("GlobalAveragePool", List.of("r"), List.of("p")), "pool"),
                named(node("Flatten", List.of("p"), List.of("f")), "flatten"),
                named(node("Gemm", List.of("f", "gw", "gb"), List.of("y")), "fc"));
        return graph("convnet", nodes, List.of(input), List.of(valueInfo("y", DataType.FLOAT, -1, 2)),
                List.of(weight("cw", 8, 3, 3, 3), weight("cb", 8), weight("gw", 8, 2), weight("gb", 2)));
    }

    static List<Case> cases() {
        List<Case> out = new ArrayList<>();
        out.add(new Case("zero-size batch", onnx(mlp(new long[] {0, 4}, new long[] {4, 3}, "mm", "add", "relu"), 17),
                null));
        out.add(new Case("zero-size weight", onnx(mlp(new long[] {-1, 4}, new long[] {4, 0}, "mm", "add", "relu"), 17),
                samples("x", floats(new long[] {SAMPLES, 4}, 1))));
        out.add(new Case("zero-size image", onnx(convNet(valueInfo("x", DataType.FLOAT, 1, 3, 0, 0)), 17), null));
        out.add(new Case("huge image", onnx(convNet(valueInfo("x", DataType.FLOAT, 1, 3, 1L << 17, 1L << 17)), 17), null));
        out.add(new Case("huge batch", onnx(convNet(valueInfo("x", DataType.FLOAT, 1L << 40, 3, 8, 8)), 17), null));
        out.add(new Case("symbolic everywhere", onnx(convNet(valueInfo("x", DataType.FLOAT, -1, -1, -1, -1)), 17),
                samples("x", floats(new long[] {SAMPLES, 3, 8, 8}, 2))));
        out.add(new Case("symbolic image", onnx(convNet(valueInfo("x", DataType.FLOAT, -1, 3, -1, -1)), 17),
                samples("x", floats(new long[] {SAMPLES, 3, 8, 8}, 3))));
        // rank 0: a scalar in, a scalar out
        out.add(new Case("rank-0", onnx(graph("scalar", List.of(named(node("Mul", List.of("x", "s"), List.of("m")), "mul"),
                        named(node("Add", List.of("m", "t"), List.of("y")), "add")),
                List.of(valueInfo("x", DataType.FLOAT)), List.of(valueInfo("y", DataType.FLOAT)),
                List.of(Tensor.scalar(2f).toProto("s"), Tensor.scalar(0.5f).toProto("t"))), 17),
                samples("x", floats(new long[] {SAMPLES}, 4))));
        out.add(new Case("no initializers", onnx(graph("relu", List.of(named(node("Relu", List.of("x"), List.of("y")), "relu")),
                List.of(valueInfo("x", DataType.FLOAT, -1, 4)), List.of(valueInfo("y", DataType.FLOAT, -1, 4)), List.of()), 17),
                samples("x", floats(new long[] {SAMPLES, 4}, 5))));
        out.add(new Case("empty graph", onnx(graph("empty", List.of(), List.of(valueInfo("x", DataType.FLOAT, -1, 4)),
                List.of(valueInfo("x", DataType.FLOAT, -1, 4)), List.of()), 17),
                samples("x", floats(new long[] {SAMPLES, 4}, 6))));
        out.add(new Case("duplicate node names", onnx(mlp(new long[] {-1, 4}, new long[] {4, 3}, "n", "n", "n"), 17),
                samples("x", floats(new long[] {SAMPLES, 4}, 7))));
        out.add(new Case("unnamed nodes", onnx(mlp(new long[] {-1, 4}, new long[] {4, 3}, "", "", ""), 17),
                samples("x", floats(new long[] {SAMPLES, 4}, 8))));
        // IR 3 and opset 9: weights are graph inputs too, as old exporters wrote them
        GraphProto old = mlp(new long[] {-1, 4}, new long[] {4, 3}, "mm", "add", "relu").toBuilder()
                .addInput(valueInfo("w", DataType.FLOAT, 4, 3)).addInput(valueInfo("b", DataType.FLOAT, 3)).build();
        out.add(new Case("weights as graph inputs", OnnxModel.of(model(old, 9).toBuilder().setIrVersion(3).build()),
                samples("x", floats(new long[] {SAMPLES, 4}, 9))));
        // int64 ids into an embedding table, then a shared weight used twice
        long[] ids = new long[SAMPLES * 5];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = i % 10;
        }
        out.add(new Case("embedding and shared weight", onnx(graph("embed", List.of(
                        named(node("Gather", List.of("table", "ids"), List.of("e")), "embed"),
                        named(node("MatMul", List.of("e", "w"), List.of("h")), "first"),
                        named(node("Relu", List.of("h"), List.of("r")), "relu"),
                        named(node("MatMul", List.of("r", "w"), List.of("y")), "second")),
                List.of(valueInfo("ids", DataType.INT64, -1, 5)), List.of(valueInfo("y", DataType.FLOAT, -1, 5, 4)),
                List.of(weight("table", 10, 4), weight("w", 4, 4))), 17),
                samples("ids", Tensor.ofLongs(new long[] {SAMPLES, 5}, ids))));
        return out;
    }

    /** The pipelines run on every case: each transform as it is by default, and its modes that take other paths. */
    private static List<String> pipelines(ModelTransform transform) {
        String id = transform.descriptor().id();
        List<String> out = new ArrayList<>(List.of(id));
        // other modes, where the transform has them: the parameter values come from its descriptor
        transform.descriptor().param("pattern").ifPresent(p -> out.add(id + "(pattern=channel)"));
        transform.descriptor().param("method").ifPresent(p -> p.allowedValues().stream()
                .filter(v -> !v.equals(defaultText(p)))
                .forEach(v -> out.add(id + "(method=" + v + ")")));
        return out;
    }

    private static <T> String defaultText(io.modelrefinery.api.plugin.ParamSpec<T> spec) {
        return String.valueOf(spec.render(spec.defaultValue()));
    }

    private static JobData data(Case c, Path folder) throws Exception {
        if (c.samples() == null) {
            return JobData.none();
        }
        Map<String, Tensor> arrays = new LinkedHashMap<>(c.samples());
        arrays.put(Dataset.LABELS, Tensor.ofLongs(new long[] {SAMPLES}, new long[SAMPLES]));
        Path npz = RealArchitecturesIT.npz(folder.resolve("samples.npz"), arrays);
        String single = c.samples().keySet().iterator().next();
        Map<DataRole, Dataset> byRole = new EnumMap<>(DataRole.class);
        for (DataRole role : DataRole.values()) {
            byRole.put(role, Datasets.open(npz, single));
        }
        return JobData.of(byRole);
    }

    /** The names in {@code model} a message may name: values, nodes, operator types, the graph's inputs. */
    private static Set<String> elements(OnnxModel model) {
        Set<String> names = new LinkedHashSet<>();
        GraphProto g = model.graph();
        for (NodeProto n : g.getNodeList()) {
            names.add(n.getName());
            names.add(n.getOpType());
            names.addAll(n.getInputList());
            names.addAll(n.getOutputList());
        }
        g.getInputList().forEach(v -> names.add(v.getName()));
        g.getOutputList().forEach(v -> names.add(v.getName()));
        g.getInitializerList().forEach(t -> names.add(t.getName()));
        names.remove("");
        return names;
    }

    /** Whether {@code message} names an element of the model, as a word, or the model-wide fact it is about. */
    private static boolean namesAnElement(String message, OnnxModel model) {
        for (String name : elements(model)) {
            if (Pattern.compile("(^|[^A-Za-z0-9_])" + Pattern.quote(name) + "($|[^A-Za-z0-9_])").matcher(message).find()) {
                return true;
            }
        }
        return Pattern.compile("opset|IR version|the model has no|nothing to (quantize|prune|train)|samples")
                .matcher(message).find();
    }

    @Test
    void everyBundledTransformKeepsOrRefusesEachEdgeCaseInOneLineNamingWhy() throws Exception {
        assertTrue(transforms.size() >= 8, "the bundled ONNX transforms were found: " + transforms.size());
        List<String> problems = new ArrayList<>();
        Map<String, int[]> outcomes = new TreeMap<>(); // pipeline -> {kept, refused, failed}
        int run = 0;
        for (Case c : cases()) {
            for (ModelTransform transform : transforms) {
                for (String pipeline : pipelines(transform)) {
                    Path folder = Files.createDirectories(dir.resolve("run-" + run++));
                    int[] counts = outcomes.computeIfAbsent(pipeline, k -> new int[3]);
                    String what = c.name() + " / " + pipeline + ": ";
                    try {
                        LocalRun.of(transforms.toArray(ModelTransform[]::new)).data(data(c, folder))
                                .run(pipeline, ModelArtifact.onnx(c.model()), folder);
                        counts[0]++;
                    } catch (InvalidInputException | StepFailedException e) {
                        counts[e instanceof InvalidInputException ? 1 : 2]++;
                        String message = e.getMessage() == null ? "" : e.getMessage();
                        Throwable cause = e.getCause();
                        if (message.isBlank() || message.contains("\n")) {
                            problems.add(what + "not one line: " + message);
                        } else if (INTERNAL.matcher(message.replaceFirst("^step \\d+ '[^']+'( failed)?: ", "")).find()) {
                            problems.add(what + "internal text: " + message);
                        } else if (cause != null && DEFECTS.contains(cause.getClass())) {
                            problems.add(what + cause.getClass().getSimpleName() + " at " + List.of(cause.getStackTrace())
                                    .subList(0, Math.min(3, cause.getStackTrace().length)) + ": " + message);
                        } else if (!namesAnElement(message, c.model())) {
                            problems.add(what + "names nothing in the model: " + message);
                        }
                    } catch (RuntimeException | Error e) {
                        problems.add(what + "escaped: " + e);
                    }
                }
            }
        }
        StringBuilder summary = new StringBuilder("| pipeline | edge cases | kept | refused | failed |\n|---|---|---|---|---|\n");
        outcomes.forEach((p, n) -> summary.append("| `").append(p).append("` | ").append(n[0] + n[1] + n[2]).append(" | ")
                .append(n[0]).append(" | ").append(n[1]).append(" | ").append(n[2]).append(" |\n"));
        ReliabilityReport.write("edge-case-models.md", summary.toString());
        assertEquals(List.of(), problems, summary.toString());
    }
}
