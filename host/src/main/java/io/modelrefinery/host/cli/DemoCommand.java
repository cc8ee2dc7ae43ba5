package io.modelrefinery.host.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.EventTypes;
import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.host.pipeline.DefaultPipelines;
import io.modelrefinery.host.event.CloudEvent;
import io.modelrefinery.host.event.CloudEventCodec;
import io.modelrefinery.host.event.EventJson;
import io.modelrefinery.host.event.OutcomeEvents;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.kafka.EventTopics;
import io.modelrefinery.host.kafka.KafkaSettings;
import io.modelrefinery.host.kafka.OutcomePublisher;
import io.modelrefinery.host.eval.QualityGates;
import io.modelrefinery.host.pipeline.FormatDetector;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.service.RefineryService;
import io.modelrefinery.host.service.ServiceConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code refinery demo}: the whole service in one command. Starts it with an embedded broker, registers
 * the bundled sample model (or {@code --model}) through Kafka as a registry would, prints the outcome event,
 * and stops.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Serves with an embedded broker, registers the sample model (or --model) through Kafka, prints the "
                + "outcome.")
final class DemoCommand implements Callable<Integer> {
    private static final String SAMPLE = "seed_cnn_binary.onnx";

    @Spec
    CommandSpec spec;

    @Option(names = "--pipeline", paramLabel = "SPEC", description = "Pipeline for the sample model. Default: ${DEFAULT-VALUE}.")
    String pipeline = DefaultPipelines.DEMO;

    @Option(names = "--plugins-dir", paramLabel = "DIR", description = "Plugin jars. Default: plugins/ next to refinery.jar.")
    Path pluginsDir;

    @Option(names = "--model", paramLabel = "FILE",
            description = "A model to register instead of the sample: ONNX, Keras (.h5, .keras) or TFLite.")
    Path modelFile;

    @Option(names = "--timeout", defaultValue = "120", description = "Seconds to wait for the outcome. Default: ${DEFAULT-VALUE}.")
    int timeoutSeconds;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        PipelineSpec.parse(pipeline);
        if (modelFile != null && !Files.isRegularFile(modelFile)) {
            throw new InvalidInputException("model file not found: " + modelFile);
        }
        Path data = Files.createTempDirectory("refinery-demo-");
        ServiceConfig config = ServiceConfig.builder(data, pluginsDir != null ? pluginsDir : HostPaths.defaultPluginsDir())
                .kafkaPort(0).http("127.0.0.1", 0).topics(EventTopics.defaults(), 1)
                // The default fp16 halves the sample but runs a few percent slower on a CPU (through casts),
                // at the default latency gate's edge: the demo accepts that explicitly, as a user after size would.
                .gates(QualityGates.parse(Map.of(QualityGates.MAX_LATENCY_RATIO.name(), "1.5"), "demo")).build();
        try (RefineryService service = RefineryService.start(config)) {
            err.println("service up: Kafka " + service.bootstrapServers() + ", HTTP port " + service.httpPort());
            Path model = config.artifactRoots().get(0).resolve(modelFile == null ? SAMPLE
                    : modelFile.getFileName().toString());
            if (modelFile == null) {
                try (InputStream in = DemoCommand.class.getResourceAsStream("samples/" + SAMPLE)) {
                    Files.copy(in, model);
                }
            } else {
                Files.copy(modelFile, model);
            }
            // The event names the format, as a registry would; the service picks the converter from it.
            String name = modelFile == null ? "seed-cnn"
                    : modelFile.getFileName().toString().replaceFirst("\\.[^.]*$", "");
            ModelRegistered registered = new ModelRegistered(name, "1", model.toUri().toString(),
                    FormatDetector.detect(model).id(), pipeline, null, null, null, null, Map.of());
            String jobId = service.jobId(registered);
            KafkaSettings kafka = new KafkaSettings(service.bootstrapServers(), "refinery-demo-reader", config.topics(), 1,
                    Map.of());
            try (OutcomePublisher publisher = new OutcomePublisher(kafka, "refinery-demo")) {
                publisher.publish(config.topics().registered(), registered.name(),
                        OutcomeEvents.registered(registered, jobId + "/registered", Instant.now())).get();
            }
            err.println("registered " + registered.name() + " " + registered.version() + " on "
                    + config.topics().registered() + " (job " + jobId + "), waiting for the outcome...");
            CloudEvent outcome = awaitOutcome(kafka, config, jobId);
            if (outcome == null) {
                err.println("error: no outcome for job " + jobId + " within " + timeoutSeconds + " s");
                return ExitCode.FAILED;
            }
            out.println(EventJson.pretty(EventJson.parse(CloudEventCodec.encode(outcome), "outcome")));
            return outcome.type().equals(EventTypes.MODEL_OPTIMIZED) ? ExitCode.OK : ExitCode.FAILED;
        } finally {
            Folders.deleteQuietly(data);
        }
    }

    /** Reads the outcome topics until the event of {@code jobId} arrives. */
    private CloudEvent awaitOutcome(KafkaSettings kafka, ServiceConfig config, String jobId) {
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(kafka.consumer("refinery-demo-reader", 100))) {
            consumer.subscribe(List.of(config.topics().optimized(), config.topics().failed()));
            long deadline = System.nanoTime() + Duration.ofSeconds(timeoutSeconds).toNanos();
            while (System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(200))) {
                    CloudEvent event = CloudEventCodec.decode(record.value(), Map.of());
                    JsonNode id = event.data().get("jobId");
                    if (id != null && jobId.equals(id.asText())) {
                        return event;
                    }
                }
            }
            return null;
        }
    }
}
