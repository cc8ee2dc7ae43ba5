import com.sun.management.GarbageCollectionNotificationInfo;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.data.Npy;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.host.pipeline.LocalRun;
import io.modelrefinery.host.pipeline.PipelineResult;
import io.modelrefinery.testkit.ConvNets;
import io.modelrefinery.plugin.quantize.QuantizeStaticTransform;

import javax.management.NotificationEmitter;
import javax.management.openmbean.CompositeData;
import java.io.BufferedOutputStream;
import java.io.OutputStream;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Wall time and peak heap of quantize-static on a MobileNetV2-sized model (3.5 M parameters, 224x224x3
 * input, random weights) for growing numbers of calibration samples. Each count runs in its own JVM
 * (same -Xmx), and the peak live heap is read from the garbage collector (heap in use right after each
 * collection): if calibration kept per-sample data it would grow with the count.
 *
 * Run: bench/calibration-memory.sh [COUNTS] [METHOD]
 */
public class CalibrationMemory {
    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("--run")) {
            run(Path.of(args[1]), Integer.parseInt(args[2]), args[3]);
            return;
        }
        String[] counts = (args.length > 0 ? args[0] : "100,1000,10000").split(",");
        String method = args.length > 1 ? args[1] : "min-max";
        int largest = 0;
        for (String c : counts) {
            largest = Math.max(largest, Integer.parseInt(c));
        }
        Path work = Files.createTempDirectory("refinery-calibration-");
        try {
            Path data = work.resolve("calibration.npy");
            writeRandomImages(data, largest);
            System.out.println("| samples | method | wall time | calibration | peak live heap | peak heap in use |");
            System.out.println("|---|---|---|---|---|---|");
            for (String c : counts) {
                List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-Xmx3g", "-XX:+UseSerialGC", "-Drefinery.log.level=ERROR", "-cp", System.getProperty("java.class.path"),
                        System.getProperty("jdk.launcher.sourcefile", "bench/CalibrationMemory.java"), "--run",
                        data.toString(), c, method));
                Process p = new ProcessBuilder(command).inheritIO().start();
                if (p.waitFor() != 0) {
                    throw new IllegalStateException("run with " + c + " samples failed");
                }
            }
        } finally {
            Folders.deleteQuietly(work);
        }
    }

    /** Random pixels in [0, 1), written sample by sample so the file never sits in memory. */
    static void writeRandomImages(Path file, int samples) throws Exception {
        Random random = new Random(42);
        ByteBuffer sample = ByteBuffer.allocate(3 * 224 * 224 * 4).order(ByteOrder.LITTLE_ENDIAN);
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file), 1 << 20)) {
            Npy.writeHeader(out, DataType.FLOAT, new long[] {samples, 3, 224, 224});
            for (int s = 0; s < samples; s++) {
                sample.clear();
                while (sample.hasRemaining()) {
                    sample.putFloat(random.nextFloat());
                }
                out.write(sample.array());
            }
        }
    }

    static void run(Path data, int samples, String method) throws Exception {
        AtomicLong peakLive = new AtomicLong();
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            ((NotificationEmitter) gc).addNotificationListener((notification, handback) -> {
                GarbageCollectionNotificationInfo info = GarbageCollectionNotificationInfo.from(
                        (CompositeData) notification.getUserData());
                long used = 0;
                for (MemoryUsage u : info.getGcInfo().getMemoryUsageAfterGc().values()) {
                    used += u.getUsed();
                }
                peakLive.accumulateAndGet(used, Math::max);
            }, null, null);
        }
        AtomicLong peakUsed = new AtomicLong();
        Thread sampler = new Thread(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                peakUsed.accumulateAndGet(ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed(), Math::max);
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        sampler.setDaemon(true);
        sampler.start();
        OnnxModel model = ConvNets.mobileNetV2(1);
        Path work = Files.createTempDirectory("refinery-calibration-run-");
        long start = System.nanoTime();
        PipelineResult result = LocalRun.of(new QuantizeStaticTransform())
                .data(new JobData(Datasets.open(data, "input"), null, null))
                .run("quantize-static(method=" + method + ",max-samples=" + samples + ")", model, work);
        double seconds = (System.nanoTime() - start) / 1e9;
        sampler.interrupt();
        double calibration = result.steps().get(0).metrics().get("calibration-ms") / 1000.0;
        System.out.printf(Locale.ROOT, "| %,d | %s | %.1f s | %.1f s | %.0f MiB | %.0f MiB |%n", samples, method, seconds,
                calibration, peakLive.get() / 1048576.0, peakUsed.get() / 1048576.0);
        Folders.deleteQuietly(work);
    }
}
