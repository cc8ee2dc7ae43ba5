import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.ort.DeviceRequest;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.host.pipeline.LocalRun;
import io.modelrefinery.host.pipeline.PipelineResult;
import io.modelrefinery.testkit.ConvNets;
import io.modelrefinery.plugin.quantize.QuantizeStaticTransform;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Calibration time of quantize-static on CPU and on ONNX Runtime's CUDA provider, same MobileNetV2-sized
 * model and data. Run: bench/gpu-calibration.sh [SAMPLES] (needs the gpu build on a machine with a GPU).
 */
public class GpuCalibration {
    public static void main(String[] args) throws Exception {
        int samples = args.length > 0 ? Integer.parseInt(args[0]) : 1000;
        String problem = new OrtRuntime().cudaProblem();
        if (!problem.isEmpty()) {
            System.out.println("skipped: CUDA cannot run here: " + problem);
            return;
        }
        Path work = Files.createTempDirectory("refinery-gpu-calibration-");
        try {
            Path data = work.resolve("calibration.npy");
            CalibrationMemory.writeRandomImages(data, samples);
            OnnxModel model = ConvNets.mobileNetV2(1);
            System.out.println("| device | samples | method | calibration | step |");
            System.out.println("|---|---|---|---|---|");
            for (Device device : new Device[] {Device.CPU, Device.CUDA}) {
                for (String method : new String[] {"min-max", "entropy"}) {
                    PipelineResult r = LocalRun.of(new QuantizeStaticTransform()).device(device)
                            .data(new JobData(Datasets.open(data, "input"), null, null))
                            .run("quantize-static(method=" + method + ")", model, work.resolve(device.id() + method));
                    System.out.printf(Locale.ROOT, "| %s | %,d | %s | %.1f s | %.1f s |%n", r.steps().get(0).device(), samples,
                            method, r.steps().get(0).metrics().get("calibration-ms") / 1000,
                            r.steps().get(0).durationMs() / 1000.0);
                }
            }
        } finally {
            Folders.deleteQuietly(work);
        }
    }
}
