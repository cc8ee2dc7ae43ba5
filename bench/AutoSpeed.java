import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.ort.OrtRuntime;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The floor an {@code auto} run is compared with in bench/auto-speed.sh: seconds of one plain float32 inference
 * pass of MODEL over the samples of NPZ (batches of 32, ONNX Runtime's defaults), after one untimed pass.
 *
 * <pre>
 * java -cp dist/refinery.jar bench/AutoSpeed.java MODEL NPZ
 * </pre>
 */
public class AutoSpeed {
    public static void main(String[] args) throws Exception {
        Path work = Files.createTempDirectory("refinery-auto-speed-");
        try {
            InferenceService inference = new OrtRuntime().service(Device.CPU, work.resolve("ort"));
            Dataset data = Datasets.open(Path.of(args[1]), "input");
            try (InferenceSession session = inference.open(OnnxModel.load(Path.of(args[0])))) {
                List<String> out = List.of(session.outputs().get(0).name());
                int batch = Datasets.batchSize(session.inputs(), 32);
                Datasets.forEachModelBatch(data, session.inputs(), batch, 0, () -> { }, (b, o, t) -> session.run(b.inputs(), out));
                long start = System.nanoTime();
                Datasets.forEachModelBatch(data, session.inputs(), batch, 0, () -> { }, (b, o, t) -> session.run(b.inputs(), out));
                System.out.printf(Locale.ROOT, "%.2f%n", (System.nanoTime() - start) / 1e9);
            }
        } finally {
            Folders.deleteQuietly(work);
        }
    }
}
