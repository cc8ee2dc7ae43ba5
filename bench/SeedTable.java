import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.testdata.FashionMnist;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The seed article's table, reproduced on the sample model: each recipe runs as a user runs it, one
 * {@code refinery optimize} command with the Fashion-MNIST test images as evaluation data, and the row
 * comes from the command's report; rows that train get the 12,000 training images as {@code --train}.
 * Beside it: the article's own numbers (TensorFlow Lite, QuickDraw) and ONNX Runtime's Python tool on the
 * same model (docs/benchmarks.md, reference figures).
 *
 * With the argument {@code ten}, the same rows on the ten-class model (samples/seed_cnn_ten.onnx), without
 * the reference columns (they are the two-class model's).
 *
 * Run: bench/seed-table.sh [ten]
 */
public class SeedTable {
    /** recipe label, pipeline, the article's row, ONNX Runtime's row */
    private static final String[][] ROWS = {
            {"baseline", "", "14,303 B, 98.52%", "13,251 B, 95.20%"},
            {"dynamic quantization", "quantize-dynamic", "7,483 B, 98.53%", "4,803 B, 95.15%"},
            {"pruning 80%, no training", "prune(sparsity=0.8,method=reconstruct)", "", "4,200 B, 60.60% (magnitude)"},
            {"pruning 80%, then quantization", "prune(sparsity=0.8,method=reconstruct),quantize-dynamic", "", ""},
            {"pruning 50%→80% while fine-tuning 2 epochs, then quantization",
                    "prune(sparsity=0.8,initial-sparsity=0.5,finetune=2),quantize-dynamic", "3,996 B, 98.40% (retrained)",
                    "2,801 B, 96.40% (fine-tuned)"},
            {"auto, max-accuracy-drop=0.005", "auto(max-accuracy-drop=0.005)", "", ""},
            {"auto, max-accuracy-drop=0.005, with training data", "auto(max-accuracy-drop=0.005)", "", ""},
    };

    public static void main(String[] args) throws Exception {
        Path work = Files.createTempDirectory("refinery-seed-table-");
        try {
            // "ten": the ten-class model on all 10,000 test images, calibrated on 4,096 training images (the
            // pruning bench's figure: sparsegpt needs several per classifier input), trained on all 60,000
            boolean ten = args.length > 0 && args[0].equals("ten");
            Path test = (ten ? FashionMnist.tenClass(FashionMnist.Split.TEST, Integer.MAX_VALUE)
                    : FashionMnist.binary(FashionMnist.Split.TEST, Integer.MAX_VALUE)).writeNpz(work.resolve("test.npz"));
            Path calibration = (ten ? FashionMnist.tenClass(FashionMnist.Split.TRAIN, 4096)
                    : FashionMnist.binary(FashionMnist.Split.TRAIN, 200)).writeNpz(work.resolve("calibration.npz"));
            Path train = (ten ? FashionMnist.tenClass(FashionMnist.Split.TRAIN, Integer.MAX_VALUE)
                    : FashionMnist.binary(FashionMnist.Split.TRAIN, Integer.MAX_VALUE)).writeNpz(work.resolve("train.npz"));
            Path model = Path.of(ten ? "samples/seed_cnn_ten.onnx" : "samples/seed_cnn_binary.onnx");
            // the reference columns are the two-class model's: left out for the ten-class one
            System.out.println("| recipe | pipeline | bytes | zipped bytes | accuracy | zipped vs baseline | accuracy change | "
                    + "seconds |" + (ten ? "" : " seed article (zip, accuracy) | ONNX Runtime tool (zip, accuracy) |"));
            System.out.println("|---|---|---|---|---|---|---|---|" + (ten ? "" : "---|---|"));
            for (String[] row : ROWS) {
                Path report = work.resolve("report.json");
                Files.deleteIfExists(report);
                List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-jar", "dist/refinery.jar", "optimize", model.toString(), "-o", work.resolve("out.onnx").toString(),
                        "--pipeline", row[1].isEmpty() ? "graph-optimize(level=basic)" : row[1], "--eval", test.toString(),
                        "--calibration", calibration.toString(), "--device", "cpu", "--report", report.toString()));
                if (!row[1].startsWith("auto")) {
                    // the table is about size and accuracy: a fixed recipe is measured even where it is slower at
                    // batch 1 than the original (dynamic quantization's ConvInteger is, on the ten-class model),
                    // which the default latency gate would refuse; auto keeps its own gates
                    command.addAll(List.of("--gate", "max-latency-ratio=100"));
                }
                if (row[1].contains("finetune=") || row[0].endsWith("with training data")) {
                    command.addAll(List.of("--train", train.toString())); // all 12,000 training images
                }
                long start = System.nanoTime();
                Process process = new ProcessBuilder(command).redirectErrorStream(true)
                        .redirectOutput(work.resolve("log.txt").toFile()).start();
                int exit = process.waitFor();
                double seconds = (System.nanoTime() - start) / 1e9;
                if (exit != 0) {
                    System.out.printf(Locale.ROOT, "| %s | `%s` | failed: %s | | | | | |%s%n", row[0], row[1],
                            lastLine(work.resolve("log.txt")), references(ten, row));
                    continue;
                }
                JsonNode r = new ObjectMapper().readTree(report.toFile());
                JsonNode in = r.get("input");
                JsonNode out = row[1].isEmpty() ? in : r.get("output");
                JsonNode e = r.get("evaluation");
                double before = e.get("accuracyBefore").asDouble();
                double after = row[1].isEmpty() ? before : e.get("accuracyAfter").asDouble();
                String pipeline = row[1].startsWith("auto") ? row[1] + " chose `" + chosen(r) + "`" : "`" + row[1] + "`";
                System.out.printf(Locale.ROOT, "| %s | %s | %,d | %,d | %.2f%% | %.3fx (%+.1f%%) | %+.2f points | %.1f |%s%n",
                        row[0], row[1].isEmpty() ? "(input)" : pipeline, out.get("bytes").asLong(), out.get("gzipBytes").asLong(),
                        100 * after, (double) out.get("gzipBytes").asLong() / in.get("gzipBytes").asLong(),
                        100.0 * (out.get("gzipBytes").asLong() - in.get("gzipBytes").asLong()) / in.get("gzipBytes").asLong(),
                        100 * (after - before), seconds, references(ten, row));
            }
        } finally {
            Folders.deleteQuietly(work);
        }
    }

    private static String references(boolean ten, String[] row) {
        return ten ? "" : " " + row[2] + " | " + row[3] + " |";
    }

    private static String chosen(JsonNode report) {
        for (JsonNode c : report.get("candidates")) {
            if (c.get("outcome").asText().equals("chosen")) {
                return c.get("pipeline").asText();
            }
        }
        return "?";
    }

    private static String lastLine(Path log) throws Exception {
        List<String> lines = Files.readAllLines(log);
        return lines.isEmpty() ? "" : lines.get(lines.size() - 1).replace('|', '/');
    }
}
