import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.host.event.OutcomeEvents;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.kafka.ConsumerGroupLag;
import io.modelrefinery.host.kafka.EventTopics;
import io.modelrefinery.host.kafka.KafkaSettings;
import io.modelrefinery.host.kafka.OutcomePublisher;
import io.modelrefinery.host.service.RefineryService;
import io.modelrefinery.host.service.ServiceConfig;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A sustained stream of registrations into `refinery serve` (in this JVM, embedded broker): events are
 * published at a fixed rate while the consumer group's lag and the heap are sampled every second; the
 * heap after a full collection is compared before (after a warm-up) and after the run, to show that
 * nothing accumulates per event.
 *
 * Run: bench/load.sh [EVENTS] [EVENTS_PER_SECOND] [PIPELINE]
 */
public class LoadSoak {
    public static void main(String[] args) throws Exception {
        int events = args.length > 0 ? Integer.parseInt(args[0]) : 600;
        double rate = args.length > 1 ? Double.parseDouble(args[1]) : 15;
        String pipeline = args.length > 2 ? args[2] : "fp16";
        Path root = Path.of("").toAbsolutePath();
        Path work = Files.createTempDirectory("refinery-load-");
        try {
            ServiceConfig config = ServiceConfig.builder(work.resolve("data"), root.resolve("dist/plugins")).kafkaPort(0)
                    .http("127.0.0.1", 0).workers(2).topics(EventTopics.defaults(), 2).build();
            try (RefineryService service = RefineryService.start(config);
                 ConsumerGroupLag groupLag = new ConsumerGroupLag(new KafkaSettings(service.bootstrapServers(),
                         config.groupId(), config.topics(), config.partitions(), Map.of()), "load-lag");
                 OutcomePublisher publisher = new OutcomePublisher(new KafkaSettings(service.bootstrapServers(), "load",
                         config.topics(), 2, Map.of()), "load-registry")) {
                Path model = config.artifactRoots().get(0).resolve("seed.onnx");
                Files.copy(root.resolve("samples/seed_cnn_binary.onnx"), model);
                publish(publisher, config, model, pipeline, "warm", 50);
                awaitLag(groupLag, 0, 120);
                long heapBefore = heapAfterGc();
                long start = System.nanoTime();
                long maxLag = 0;
                long peakHeap = 0;
                long nextSample = start;
                // Heap after a full collection at each quarter of the run: a leak grows with events, a bounded
                // cache (the last 1,000 jobs kept for GET /jobs) stops growing once full.
                List<String> checkpoints = new ArrayList<>();
                for (int i = 0; i < events; i++) {
                    if (i > 0 && i % Math.max(1, events / 4) == 0) {
                        checkpoints.add(String.format(Locale.ROOT, "| %d | %.1f MiB |", i, heapAfterGc() / 1048576.0));
                    }
                    long due = start + (long) (i * 1e9 / rate);
                    while (System.nanoTime() < due) {
                        Thread.sleep(1);
                    }
                    publish(publisher, config, model, pipeline, "run-" + i, 1);
                    if (System.nanoTime() >= nextSample) {
                        maxLag = Math.max(maxLag, groupLag.measure());
                        peakHeap = Math.max(peakHeap, ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
                        nextSample += TimeUnit.SECONDS.toNanos(1);
                    }
                }
                double publishSeconds = (System.nanoTime() - start) / 1e9;
                awaitLag(groupLag, 0, 600);
                double totalSeconds = (System.nanoTime() - start) / 1e9;
                long heapAfter = heapAfterGc();
                System.out.println("| events | pipeline | offered rate | processed rate | max consumer lag | drain after last event "
                        + "| heap after GC before | heap after GC after | change | peak heap in use |");
                System.out.println("|---|---|---|---|---|---|---|---|---|---|");
                System.out.printf(Locale.ROOT, "| %d | %s | %.1f/s | %.1f/s | %d | %.1f s | %.1f MiB | %.1f MiB | %+.1f MiB | %.0f MiB |%n",
                        events, pipeline, events / publishSeconds, events / totalSeconds, maxLag,
                        totalSeconds - publishSeconds, heapBefore / 1048576.0, heapAfter / 1048576.0,
                        (heapAfter - heapBefore) / 1048576.0, peakHeap / 1048576.0);
                System.out.println();
                System.out.println("| events published | heap after GC |");
                System.out.println("|---|---|");
                System.out.printf(Locale.ROOT, "| 0 | %.1f MiB |%n", heapBefore / 1048576.0);
                checkpoints.forEach(System.out::println);
                System.out.printf(Locale.ROOT, "| %d (drained) | %.1f MiB |%n", events, heapAfter / 1048576.0);
            }
        } finally {
            Folders.deleteQuietly(work);
        }
    }

    private static void publish(OutcomePublisher publisher, ServiceConfig config, Path model, String pipeline,
                                String prefix, int n) throws Exception {
        for (int i = 0; i < n; i++) {
            ModelRegistered registered = new ModelRegistered("load-cnn", prefix + "-" + i, model.toUri().toString(), null,
                    pipeline, null, null, null, null, Map.of());
            publisher.publish(config.topics().registered(), "load-cnn", OutcomeEvents.registered(registered,
                    prefix + "-" + i, Instant.now())).get();
        }
    }

    /** Waits until the group's lag (as KEDA and the service's gauge see it) is down to {@code target}. */
    private static void awaitLag(ConsumerGroupLag groupLag, long target, int seconds) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (groupLag.measure() > target) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("lag still " + groupLag.measure() + " after " + seconds + " s");
            }
            Thread.sleep(200);
        }
    }


    private static long heapAfterGc() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(200);
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }
}
