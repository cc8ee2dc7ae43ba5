package io.modelrefinery.testdata;

import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.onnx.proto.Onnx.ValueInfoProto;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * ONNX's backend test models with their inputs and expected outputs, as Debian's {@code libonnx-testdata}
 * installs them: {@code data/SUITE/TEST/model.onnx} and {@code test_data_set_N/input_I.pb, output_I.pb}.
 * CI installs the package (.ci/run) and sets {@code REFINERY_REQUIRE_DATASETS=1}, so that a missing
 * package fails the tests there instead of skipping them.
 */
public final class OnnxTestData {
    public static final Path FOLDER = Path.of("/usr/share/libonnx-testdata/data");

    /** One test: the model and its data sets, inputs by name, expected outputs by name. */
    public record Case(String name, OnnxModel model, List<Map<String, Tensor>> inputs,
                       List<Map<String, Tensor>> outputs) {
    }

    private OnnxTestData() {
    }

    public static boolean available() {
        return Files.isDirectory(FOLDER.resolve("node"));
    }

    /** Skips the calling test when the package is missing, unless the build requires it (CI). */
    public static void assumeAvailable() {
        if ("1".equals(System.getenv("REFINERY_REQUIRE_DATASETS")) && !available()) {
            throw new AssertionError("ONNX's backend test data is required but missing from " + FOLDER
                    + " (apt-get install libonnx-testdata)");
        }
        Assumptions.assumeTrue(available(), "libonnx-testdata not installed (apt-get install libonnx-testdata)");
    }

    /** Test {@code suiteAndName}, such as {@code node/test_upsample_nearest}. */
    public static Case load(String suiteAndName) {
        Path dir = FOLDER.resolve(suiteAndName);
        try {
            OnnxModel model = OnnxModel.load(dir.resolve("model.onnx"));
            Set<String> initializers = model.graph().getInitializerList().stream().map(TensorProto::getName)
                    .collect(Collectors.toSet());
            List<String> inputNames = model.graph().getInputList().stream().map(ValueInfoProto::getName)
                    .filter(n -> !initializers.contains(n)).toList();
            List<String> outputNames = model.graph().getOutputList().stream().map(ValueInfoProto::getName).toList();
            List<Map<String, Tensor>> inputs = new ArrayList<>();
            List<Map<String, Tensor>> outputs = new ArrayList<>();
            try (Stream<Path> sets = Files.list(dir)) {
                for (Path set : sets.filter(p -> p.getFileName().toString().startsWith("test_data_set_")).sorted()
                        .toList()) {
                    inputs.add(read(set, "input_", inputNames));
                    outputs.add(read(set, "output_", outputNames));
                }
            }
            return new Case(suiteAndName, model, inputs, outputs);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read ONNX test " + suiteAndName, e);
        }
    }

    private static Map<String, Tensor> read(Path set, String prefix, List<String> names) throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (int i = 0; Files.exists(set.resolve(prefix + i + ".pb")); i++) {
            TensorProto proto = TensorProto.parseFrom(Files.readAllBytes(set.resolve(prefix + i + ".pb")));
            tensors.put(proto.getName().isEmpty() ? names.get(i) : proto.getName(), Tensor.fromProto(proto));
        }
        return tensors;
    }

    /**
     * Null when {@code actual} matches {@code expected} within {@code rtol} and {@code atol} times the largest
     * expected magnitude (at least 1); otherwise the first difference, for a test's message.
     */
    public static String difference(Map<String, Tensor> expected, Map<String, Tensor> actual, double rtol, double atol) {
        for (Map.Entry<String, Tensor> e : expected.entrySet()) {
            Tensor got = actual.get(e.getKey());
            if (got == null || !Arrays.equals(got.shape(), e.getValue().shape())) {
                return "output '" + e.getKey() + "' is " + (got == null ? "missing" : Arrays.toString(got.shape()))
                        + ", expected " + Arrays.toString(e.getValue().shape());
            }
            double[] w = e.getValue().toDoubleArray();
            double[] g = got.toDoubleArray();
            double scale = 1;
            for (double v : w) {
                scale = Double.isFinite(v) ? Math.max(scale, Math.abs(v)) : scale;
            }
            for (int i = 0; i < w.length; i++) {
                boolean same = Double.isNaN(w[i]) ? Double.isNaN(g[i]) : Double.isInfinite(w[i]) ? w[i] == g[i]
                        : Math.abs(w[i] - g[i]) <= atol * scale + rtol * Math.abs(w[i]);
                if (!same) {
                    return "output '" + e.getKey() + "'[" + i + "] is " + g[i] + ", expected " + w[i];
                }
            }
        }
        return null;
    }
}
