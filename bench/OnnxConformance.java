import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.LocalRun;
import io.modelrefinery.host.pipeline.StepFailedException;
import io.modelrefinery.plugin.fp16.Fp16Transform;
import io.modelrefinery.plugin.graphoptimize.GraphOptimizeTransform;
import io.modelrefinery.plugin.opset.OpsetTransform;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * ONNX's own backend test models (model.onnx with test_data_set_N/input_*.pb and output_*.pb) through
 * graph-optimize(level=basic), opset(target=21) and fp16, each step through the host's pipeline runner
 * (its output check included). A model takes part when ONNX Runtime runs the original and matches the
 * expected outputs; each transform's output is then run (default session options) and compared with the
 * expected outputs: within rtol 1e-3 / atol 1e-5 of the largest value, fp16 within 2e-2 of both.
 *
 * <p>One line per model and pipeline goes to the results file as soon as it is known, and a "start" line
 * before, so that bench/onnx-conformance.sh can restart this program after a native crash and record the
 * model in progress as crashed.
 *
 * Run: bench/onnx-conformance.sh
 */
public class OnnxConformance {
    static final List<String> PIPELINES = List.of("graph-optimize(level=basic)", "opset(target=21)", "fp16");

    public static void main(String[] args) throws Exception {
        Path results = Path.of(args[0]);
        List<Path> models = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            try (Stream<Path> list = Files.list(Path.of(args[i]))) {
                list.filter(d -> Files.exists(d.resolve("model.onnx"))).sorted().forEach(models::add);
            }
        }
        Set<String> done = Files.exists(results) ? Files.readAllLines(results).stream()
                .map(l -> l.split("\t")).filter(f -> f.length > 1 && !f[0].equals("start"))
                .map(f -> f[0] + "\t" + f[1]).collect(Collectors.toSet()) : Set.of();
        Set<String> started = Files.exists(results) ? Files.readAllLines(results).stream()
                .map(l -> l.split("\t")).filter(f -> f[0].equals("start")).map(f -> f[1] + "\t" + f[2])
                .collect(Collectors.toSet()) : Set.of();
        Set<String> referenceOk = Files.exists(results) ? Files.readAllLines(results).stream()
                .map(l -> l.split("\t")).filter(f -> f.length > 2 && f[1].equals("original") && f[2].equals("ref-ok"))
                .map(f -> f[0]).collect(Collectors.toSet()) : Set.of();
        Path scratch = Files.createTempDirectory("onnx-conformance-");
        InferenceService ort = new OrtRuntime().service(Device.CPU, scratch);
        List<ModelTransform> transforms = List.of(new GraphOptimizeTransform(), new OpsetTransform(), new Fp16Transform());
        for (Path dir : models) {
            String name = dir.getParent().getFileName() + "/" + dir.getFileName();
            String originalKey = name + "\toriginal";
            if (done.contains(originalKey)) {
                if (!referenceOk.contains(name)) {
                    continue;
                }
            } else {
                if (started.contains(originalKey)) {
                    record(results, name, "original", "ort-crashes", "ONNX Runtime crashes on the original");
                    continue;
                }
                record(results, "start", name, "original");
                String why = original(ort, dir);
                record(results, name, "original", why == null ? "ref-ok" : "excluded", why == null ? "" : why);
                if (why != null) {
                    continue;
                }
            }
            for (String pipeline : PIPELINES) {
                String key = name + "\t" + pipeline;
                if (done.contains(key)) {
                    continue;
                }
                if (started.contains(key)) {
                    record(results, name, pipeline, "crashed", "the process died running the output");
                    continue;
                }
                record(results, "start", name, pipeline);
                String[] outcome = transform(ort, dir, pipeline, transforms, scratch);
                record(results, name, pipeline, outcome[0], outcome[1]);
            }
        }
    }

    /** Null when ONNX Runtime runs the original and matches the expected outputs; why not, otherwise. */
    static String original(InferenceService ort, Path dir) {
        try {
            OnnxModel model = OnnxModel.load(dir.resolve("model.onnx"));
            List<DataSet> sets = dataSets(dir, model);
            if (sets.isEmpty()) {
                return "no tensor test data";
            }
            String differs = compare(ort, model, sets, false);
            return differs == null ? null : "ONNX Runtime itself: " + differs;
        } catch (Exception | LinkageError e) {
            return "ONNX Runtime itself: " + oneLine(e);
        }
    }

    static String[] transform(InferenceService ort, Path dir, String pipeline, List<ModelTransform> transforms,
                              Path scratch) {
        OnnxModel model;
        List<DataSet> sets;
        try {
            model = OnnxModel.load(dir.resolve("model.onnx"));
            sets = dataSets(dir, model);
        } catch (Exception e) {
            return new String[] {"excluded", oneLine(e)};
        }
        OnnxModel output;
        try {
            Path work = Files.createTempDirectory(scratch, "run-");
            output = LocalRun.of(transforms.toArray(ModelTransform[]::new)).run(pipeline, model, work).output()
                    .onnxModel();
        } catch (InvalidInputException e) {
            return new String[] {"refused", oneLine(e).replaceFirst("^step 1 '[a-z0-9-]+': ", "")};
        } catch (StepFailedException e) {
            return new String[] {"step-failed", oneLine(e).replaceFirst("^step 1 '[a-z0-9-]+' failed: ", "")};
        } catch (Exception | LinkageError e) {
            return new String[] {"internal-error", oneLine(e)};
        }
        try {
            String differs = compare(ort, output, sets, pipeline.startsWith("fp16"));
            return differs == null ? new String[] {"kept", ""} : new String[] {"broken", differs};
        } catch (Exception e) {
            return new String[] {"broken", oneLine(e)};
        }
    }

    record DataSet(Map<String, Tensor> inputs, Map<String, Tensor> outputs) {
    }

    /** The tensor data sets of a test; empty when its data is not all tensors (sequences, optionals). */
    static List<DataSet> dataSets(Path dir, OnnxModel model) throws IOException {
        Set<String> initializers = model.graph().getInitializerList().stream().map(TensorProto::getName)
                .collect(Collectors.toSet());
        List<String> inputNames = model.graph().getInputList().stream().map(v -> v.getName())
                .filter(n -> !initializers.contains(n)).toList();
        List<String> outputNames = model.graph().getOutputList().stream().map(v -> v.getName()).toList();
        List<DataSet> sets = new ArrayList<>();
        try (Stream<Path> list = Files.list(dir)) {
            for (Path set : list.filter(p -> p.getFileName().toString().startsWith("test_data_set_")).sorted().toList()) {
                Map<String, Tensor> in = read(set, "input_", inputNames);
                Map<String, Tensor> out = read(set, "output_", outputNames);
                if (in == null || out == null) {
                    return List.of();
                }
                sets.add(new DataSet(in, out));
            }
        }
        return sets;
    }

    private static Map<String, Tensor> read(Path set, String prefix, List<String> names) throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (int i = 0; Files.exists(set.resolve(prefix + i + ".pb")); i++) {
            TensorProto proto;
            try {
                proto = TensorProto.parseFrom(Files.readAllBytes(set.resolve(prefix + i + ".pb")));
            } catch (IOException e) {
                return null;
            }
            if (i >= names.size() || (proto.getDimsCount() == 0 && proto.getRawData().isEmpty()
                    && proto.getDataType() == 0)) {
                return null; // not a tensor (a sequence or an optional)
            }
            String name = proto.getName().isEmpty() ? names.get(i) : proto.getName();
            try {
                tensors.put(name, Tensor.fromProto(proto));
            } catch (RuntimeException e) {
                return null;
            }
        }
        return tensors.size() == names.size() ? tensors : null;
    }

    /** Null when every data set's outputs match; the first difference otherwise. */
    static String compare(InferenceService ort, OnnxModel model, List<DataSet> sets, boolean half) {
        try (InferenceSession session = ort.open(model)) {
            List<String> outputs = session.outputs().stream().map(TensorInfo::name).toList();
            for (DataSet set : sets) {
                Map<String, Tensor> actual = session.run(set.inputs(), outputs);
                int i = 0;
                for (Map.Entry<String, Tensor> e : set.outputs().entrySet()) {
                    Tensor got = actual.containsKey(e.getKey()) ? actual.get(e.getKey())
                            : actual.get(outputs.get(Math.min(i, outputs.size() - 1)));
                    String differs = differs(e.getKey(), e.getValue(), got, half);
                    if (differs != null) {
                        return differs;
                    }
                    i++;
                }
            }
        }
        return null;
    }

    static String differs(String name, Tensor want, Tensor got, boolean half) {
        if (got == null) {
            return "no output '" + name + "'";
        }
        if (!java.util.Arrays.equals(want.shape(), got.shape())) {
            return "output '" + name + "' has shape " + java.util.Arrays.toString(got.shape()) + ", expected "
                    + java.util.Arrays.toString(want.shape());
        }
        if (want.type() == DataType.STRING || got.type() == DataType.STRING) {
            return want.type() == got.type() ? null : "output '" + name + "' is " + got.type();
        }
        double[] w = want.toDoubleArray();
        double[] g = got.toDoubleArray();
        boolean floats = want.type().isFloatingPoint();
        double scale = 0;
        for (double v : w) {
            if (Double.isFinite(v)) {
                scale = Math.max(scale, Math.abs(v));
            }
        }
        double rtol = half ? 2e-2 : 1e-3;
        double atol = floats ? (half ? 2e-2 : 1e-5) * Math.max(scale, half ? 1 : 1e-3) : 0;
        for (int i = 0; i < w.length; i++) {
            boolean same = Double.isNaN(w[i]) ? Double.isNaN(g[i])
                    : Double.isInfinite(w[i]) ? w[i] == g[i] : Math.abs(w[i] - g[i]) <= atol + rtol * Math.abs(w[i]);
            if (!same) {
                return "output '" + name + "'[" + i + "] is " + g[i] + ", expected " + w[i];
            }
        }
        return null;
    }

    private static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.replaceAll("\\s*\\n\\s*", " ").replace("\t", " ");
    }

    private static void record(Path results, String... fields) throws IOException {
        Files.writeString(results, String.join("\t", fields) + "\n", StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.SYNC);
    }
}
