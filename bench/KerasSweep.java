import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.testing.TestModels;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Runs keras-to-onnx over every Keras file ({@code .h5}, {@code .keras}) of a folder as a user runs it, one
 * {@code refinery optimize FILE --pipeline keras-to-onnx} each, and tabulates: converted (exit 0), refused
 * (exit 2, with the one-line reason), failed (anything else: a crash or an internal error would show
 * here). A converted model is run in ONNX Runtime on the inputs of {@code <stem>_reference.npz} beside the
 * file when there is one, and its outputs compared by name with the reference outputs there. The family of
 * a converted file is the Keras version its report notes; of a refused one, its extension.
 *
 * Run: bench/keras-sweep.sh [FOLDER]
 */
public class KerasSweep {
    record Row(String file, String family, String outcome, String detail, double maxDiff) {
    }

    public static void main(String[] args) throws Exception {
        Path folder = Path.of(args.length > 0 ? args[0] : "plugins/keras/src/test/fixtures");
        Path work = Files.createTempDirectory("refinery-keras-sweep-");
        List<Path> files;
        try (Stream<Path> list = Files.list(folder)) {
            files = list.filter(p -> p.toString().endsWith(".h5") || p.toString().endsWith(".keras")).sorted().toList();
        }
        List<Row> rows = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (Path file : files) {
            Path out = work.resolve("out.onnx");
            Path report = work.resolve("report.json");
            Files.deleteIfExists(out);
            Files.deleteIfExists(report);
            Path log = work.resolve("log.txt");
            Process process = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-jar", "dist/refinery.jar", "optimize", file.toString(), "-o", out.toString(), "--format", "keras",
                    "--pipeline", "keras-to-onnx", "--report", report.toString()).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).start();
            int exit = process.waitFor();
            List<String> lines = Files.readAllLines(log).stream().filter(l -> !l.isBlank()).toList();
            String last = lines.isEmpty() ? "" : lines.get(lines.size() - 1);
            String extension = file.toString().endsWith(".keras") ? ".keras" : ".h5";
            if (exit != 0) {
                rows.add(new Row(file.getFileName().toString(), "not converted (" + extension + ")", exit == 2 ? "refused" : "FAILED (exit " + exit + ")",
                        last, Double.NaN));
                continue;
            }
            JsonNode step = json.readTree(report.toFile()).path("steps").path(0);
            String family = "Keras ?";
            for (JsonNode note : step.path("notes")) {
                if (note.asText().startsWith("written by Keras ")) {
                    family = note.asText().substring("written by ".length());
                }
            }
            String stem = file.getFileName().toString().replaceFirst("\\.(h5|keras)$", "");
            Path reference = folder.resolve(stem + "_reference.npz");
            double diff = Double.NaN;
            String detail = (long) step.path("metrics").path("layers").asDouble() + " layers, "
                    + (long) step.path("metrics").path("nodes").asDouble() + " nodes";
            if (Files.exists(reference)) {
                diff = compare(OnnxModel.load(out), TestModels.arrays(reference), work);
            } else {
                detail += ", no reference";
            }
            rows.add(new Row(file.getFileName().toString(), family, "converted", detail, diff));
        }
        print(rows);
    }

    /** The largest difference over all outputs of the model to the reference arrays of the same names. */
    static double compare(OnnxModel model, Map<String, Tensor> reference, Path work) {
        Map<String, Tensor> feeds = new LinkedHashMap<>();
        model.graph().getInputList().forEach(i -> feeds.put(i.getName(), reference.get(i.getName())));
        if (feeds.containsValue(null)) {
            return Double.NaN;
        }
        try (InferenceSession session = new OrtRuntime().service(Device.CPU, work).open(model)) {
            Map<String, Tensor> outputs = session.run(feeds);
            double max = 0;
            for (Map.Entry<String, Tensor> output : outputs.entrySet()) {
                Tensor expected = reference.get(output.getKey());
                if (expected == null) {
                    return Double.NaN;
                }
                max = Math.max(max, TestModels.maxAbsDiff(expected.toFloatArray(), output.getValue().toFloatArray()));
            }
            return max;
        }
    }

    static void print(List<Row> rows) {
        Map<String, int[]> families = new TreeMap<>();
        Map<String, Double> worst = new TreeMap<>();
        for (Row row : rows) {
            String family = row.family().replaceFirst("^Keras (\\d+)\\..*?( \\(.*)?$", "Keras $1.x$2");
            int[] counts = families.computeIfAbsent(family, k -> new int[3]);
            counts[row.outcome().equals("converted") ? 0 : row.outcome().equals("refused") ? 1 : 2]++;
            if (!Double.isNaN(row.maxDiff())) {
                worst.merge(family, row.maxDiff(), Math::max);
            }
        }
        System.out.println("| family | tried | converted | refused | failed | max abs diff to reference |");
        System.out.println("|---|---|---|---|---|---|");
        families.forEach((family, c) -> System.out.printf(Locale.ROOT, "| %s | %d | %d | %d | %d | %s |%n", family,
                c[0] + c[1] + c[2], c[0], c[1], c[2], worst.containsKey(family) ? String.format(Locale.ROOT, "%.1e",
                        worst.get(family)) : "-"));
        System.out.println();
        System.out.println("| file | family | outcome | max abs diff | detail |");
        System.out.println("|---|---|---|---|---|");
        for (Row row : rows) {
            System.out.printf(Locale.ROOT, "| %s | %s | %s | %s | %s |%n", row.file(), row.family(), row.outcome(),
                    Double.isNaN(row.maxDiff()) ? "-" : String.format(Locale.ROOT, "%.1e", row.maxDiff()),
                    row.detail().replace("|", "\\|"));
        }
    }
}
