import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Npy;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.TransformException;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.LocalRun;
import io.modelrefinery.plugin.tflite.TfliteToOnnxTransform;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Converts every .tflite file of a folder with tflite-to-onnx and runs each converted model in ONNX Runtime on
 * the inputs tflite_armnn_outputs.py fed ArmNN's TFLite runtime, comparing the outputs: float within 1e-4
 * (relative above 1), quantized within one step. Prints one row per file and a summary with the refusal
 * reasons, as Markdown.
 *
 * Run: bench/tflite-sweep.sh [FOLDER]
 */
public class TfliteSweep {
    public static void main(String[] args) throws Exception {
        Path folder = Path.of(args[0]);
        Path work = Path.of(args[1]);
        List<Path> files;
        try (Stream<Path> list = Files.list(folder)) {
            files = list.filter(p -> p.toString().endsWith(".tflite")).sorted().toList();
        }
        int converted = 0, refused = 0, crashed = 0, agree = 0, differ = 0, unchecked = 0;
        Map<String, Integer> reasons = new TreeMap<>();
        System.out.println("| file | conversion | ONNX nodes | against ArmNN |");
        System.out.println("|---|---|---|---|");
        for (Path file : files) {
            String name = file.getFileName().toString().replaceFirst("\\.tflite$", "");
            Path scratch = Files.createTempDirectory(work, "run-");
            OnnxModel model;
            try {
                model = LocalRun.of(new TfliteToOnnxTransform()).run("tflite-to-onnx",
                        ModelArtifact.file(file, ModelFormat.TFLITE), scratch).output().onnxModel();
            } catch (InvalidInputException | TransformException e) {
                refused++;
                String message = e.getMessage().replaceFirst("^step 1 'tflite-to-onnx': ", "");
                reasons.merge(reason(message), 1, Integer::sum);
                System.out.println("| " + name + " | refused: " + message.replace("|", "\\|") + " | | |");
                continue;
            } catch (RuntimeException e) {
                crashed++;
                System.out.println("| " + name + " | CRASH: " + e + " | | |");
                continue;
            }
            converted++;
            String check;
            Path arrays = work.resolve(name).resolve("arrays.tsv");
            if (!Files.exists(arrays)) {
                unchecked++;
                check = "not run: ArmNN " + Files.readString(work.resolve(name).resolve("armnn-error.txt")).trim()
                        .replace("|", "\\|");
            } else {
                double worst = compare(model, arrays, scratch);
                boolean ok = worst <= 1;
                agree += ok ? 1 : 0;
                differ += ok ? 0 : 1;
                check = (ok ? "agrees" : "DIFFERS") + String.format(Locale.ROOT, " (%.3g of the tolerance)", worst);
            }
            System.out.println("| " + name + " | converted | " + model.graph().getNodeCount() + " | " + check + " |");
        }
        System.out.println();
        System.out.printf(Locale.ROOT, "%d files: %d converted, %d refused, %d crashed; of the converted, %d agree "
                + "with ArmNN, %d differ, %d ArmNN cannot run%n", files.size(), converted, refused, crashed, agree,
                differ, unchecked);
        reasons.forEach((reason, count) -> System.out.println("- refused " + count + "x: " + reason));
    }

    /** The refusal without the operator's place, so that files refused for the same reason count together. */
    private static String reason(String message) {
        return message.replaceFirst("^operator \\d+ of \\d+ \\(([A-Z0-9_]+)[^)]*\\): ", "$1: ");
    }

    /** The largest output difference as a fraction of the tolerance (1 = at the tolerance). */
    private static double compare(OnnxModel model, Path arraysFile, Path scratch) throws Exception {
        Map<String, Tensor> inputs = new LinkedHashMap<>();
        Map<String, Tensor> expected = new LinkedHashMap<>();
        for (String line : Files.readAllLines(arraysFile)) {
            String[] f = line.split("\t");
            if (f.length == 3) {
                (f[0].equals("input") ? inputs : expected).put(f[1], npy(arraysFile.resolveSibling(f[2])));
            }
        }
        Map<String, Tensor> actual;
        try (InferenceSession session = new OrtRuntime().service(Device.CPU, scratch).open(model)) {
            actual = session.run(inputs);
        }
        double worst = 0;
        for (Map.Entry<String, Tensor> e : expected.entrySet()) {
            double[] want = e.getValue().toDoubleArray();
            double[] got = actual.get(e.getKey()).toDoubleArray();
            boolean floats = e.getValue().type().kind() == DataType.Kind.FLOAT;
            double scale = 0;
            for (double w : want) {
                scale = Math.max(scale, Math.abs(w));
            }
            double tolerance = floats ? 1e-4 * Math.max(1, scale) : 1;
            for (int i = 0; i < want.length; i++) {
                worst = Math.max(worst, Math.abs(want[i] - got[i]) / tolerance);
            }
        }
        return worst;
    }

    private static Tensor npy(Path file) throws Exception {
        try (InputStream in = Files.newInputStream(file)) {
            Npy.Header header = Npy.readHeader(in, file.toString());
            return Tensor.of(header.type(), header.shape(), in.readNBytes((int) header.dataBytes()));
        }
    }
}
