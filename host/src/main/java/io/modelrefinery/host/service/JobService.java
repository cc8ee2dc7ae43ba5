package io.modelrefinery.host.service;

import java.util.EnumMap;
import io.modelrefinery.host.pipeline.DataSources;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.event.ArtifactSummary;
import io.modelrefinery.api.event.EventTypes;
import io.modelrefinery.api.event.JobReport;
import io.modelrefinery.api.event.Candidate;
import io.modelrefinery.api.event.ModelFailed;
import io.modelrefinery.api.event.ModelRef;
import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.api.event.RegistryException;
import io.modelrefinery.api.event.ResolvedArtifact;
import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.TransformCancelledException;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.host.artifact.ArtifactException;
import io.modelrefinery.host.artifact.ArtifactFetcher;
import io.modelrefinery.host.artifact.ArtifactStore;
import io.modelrefinery.host.artifact.StoredArtifact;
import io.modelrefinery.host.eval.ArtifactMeasurer;
import io.modelrefinery.host.event.CloudEvent;
import io.modelrefinery.host.event.CloudEventCodec;
import io.modelrefinery.host.event.OutcomeEvents;
import io.modelrefinery.host.event.RegistryAdapters;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.job.JobPipeline;
import io.modelrefinery.host.job.JobRequest;
import io.modelrefinery.host.eval.QualityGates;
import io.modelrefinery.host.job.GateFailedException;
import io.modelrefinery.host.job.JobResult;
import io.modelrefinery.host.job.JobRunner;
import io.modelrefinery.host.kafka.EventTopics;
import io.modelrefinery.host.kafka.OutcomePublisher;
import io.modelrefinery.host.metrics.RefineryMetrics;
import io.modelrefinery.host.ort.DeviceChoice;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.JobIds;
import io.modelrefinery.host.pipeline.JobListener;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.pipeline.StepFailedException;
import io.modelrefinery.host.pipeline.TransformCatalog;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * Turns one {@code model.registered} record into exactly one outcome: reads the event, resolves and
 * fetches the model, runs the pipeline, stores the result, and publishes {@code model.optimized} or
 * {@code model.failed} (plus the original record on the dead-letter topic). Retriable failures are
 * retried with exponential backoff first. The outcome is saved before it is published, so a record
 * delivered again is answered from the saved outcome instead of being recomputed.
 */
public final class JobService {
    private static final Logger LOG = LoggerFactory.getLogger(JobService.class);
    /** The stages a job can fail in, besides {@code step:TRANSFORM} for each of its steps. */
    public static final List<String> STAGES = List.of("parse", "resolve", "fetch", "pipeline", "gate", "store",
            "register");
    /** The header a dead letter of one element of a JSON array of events carries: the element's index. */
    static final String BATCH_INDEX_HEADER = "refinery.errors.batch.index";

    /**
     * The service's settings.
     *
     * @param defaultPipeline the pipeline of events that name none
     * @param maxAttempts how many times a job runs when its failures are retriable
     * @param firstBackoff the wait before the first retry; doubled for each next one
     * @param workDir where jobs keep their temporary files
     * @param gates quality gates of every job; gates a pipeline sets override them
     * @param runner how each job runs: {@code auto}'s parallelism, evaluation, step time limits
     */
    public record Settings(PipelineSpec defaultPipeline, int maxAttempts, Duration firstBackoff, Path workDir,
                           QualityGates gates, JobRunner.Settings runner) {
        public Settings {
            if (maxAttempts < 1) {
                throw new IllegalArgumentException("maxAttempts must be at least 1: " + maxAttempts);
            }
            gates = gates == null ? QualityGates.none() : gates;
            runner = runner == null ? JobRunner.Settings.defaults() : runner;
        }
    }

    /** A failure with the stage it happened in. */
    private static final class StageFailure extends Exception {
        private static final long serialVersionUID = 1L;
        final String stage;
        final boolean retriable;
        final transient JobReport report;

        StageFailure(String stage, Throwable cause, boolean retriable) {
            this(stage, cause, retriable, null);
        }

        /** @param report the rejected result's report, for stage {@code gate} */
        StageFailure(String stage, Throwable cause, boolean retriable, JobReport report) {
            super(cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage(), cause);
            this.stage = stage;
            this.retriable = retriable;
            this.report = report;
        }
    }

    private final Settings settings;
    private final TransformCatalog catalog;
    private final Registries registries;
    private final OrtRuntime runtime;
    private final DeviceChoice device;
    private final ArtifactFetcher fetcher;
    private final ArtifactStore store;
    private final OutcomeStore outcomes;
    private final OutcomePublisher publisher;
    private final EventTopics topics;
    private final JobTracker tracker;
    private final RefineryMetrics metrics;
    private final Clock clock;
    private volatile boolean cancelled;

    public JobService(Settings settings, TransformCatalog catalog, Registries registries,
                      OrtRuntime runtime, DeviceChoice device, ArtifactFetcher fetcher, ArtifactStore store,
                      OutcomeStore outcomes, OutcomePublisher publisher, EventTopics topics, JobTracker tracker,
                      RefineryMetrics metrics, Clock clock) {
        this.settings = settings;
        this.catalog = catalog;
        this.registries = registries;
        this.runtime = runtime;
        this.device = device;
        this.fetcher = fetcher;
        this.store = store;
        this.outcomes = outcomes;
        this.publisher = publisher;
        this.topics = topics;
        this.tracker = tracker;
        this.metrics = metrics;
        this.clock = clock;
    }

    /**
     * Asks running jobs to stop at their next check (the service is stopping). A cancelled job publishes
     * nothing; its record is not committed and is delivered again.
     */
    public void cancelRunning() {
        cancelled = true;
    }

    /**
     * Every stage a job of the default pipeline can fail in: {@link #STAGES} and {@code step:TRANSFORM}
     * for each step (for the metrics that exist before the first failure).
     */
    public List<String> stagesOfDefaultPipeline() {
        List<String> stages = new ArrayList<>(STAGES);
        settings.defaultPipeline().steps().stream().map(step -> step.transformId())
                .filter(id -> !id.equals(JobPipeline.GATE)).distinct().forEach(id -> stages.add("step:" + id));
        return stages;
    }

    /** The job id of a registered model under this host's default pipeline. */
    public String jobId(ModelRegistered registered) {
        return JobIds.of(registered.name(), registered.version(), pipelineOf(registered));
    }

    private PipelineSpec pipelineOf(ModelRegistered registered) {
        return registered.pipeline() == null ? settings.defaultPipeline() : PipelineSpec.parse(registered.pipeline());
    }

    /**
     * Processes one record to its published outcomes: one per event, a record holding a JSON array of
     * events (an Event Grid delivery) giving one job and one outcome per element. Returns normally once
     * every outcome is acknowledged; throws when one could not be published or the job was cancelled,
     * leaving the record uncommitted.
     */
    public void handle(ConsumerRecord<byte[], byte[]> record) {
        String recordKey = record.topic() + "-" + record.partition() + "-" + record.offset();
        List<CloudEventCodec.Decoded> events;
        try {
            events = CloudEventCodec.decodeAll(record.value(), headers(record));
        } catch (InvalidInputException e) {
            LOG.warn("record {} refused: {}", recordKey, e.getMessage());
            fail(record, new CloudEventCodec.Decoded(-1, record.value(), null, null), null, null, "record:" + recordKey,
                    new StageFailure("parse", e, false), null);
            return;
        }
        for (CloudEventCodec.Decoded event : events) {
            handle(record, event, event.index() < 0 ? recordKey : recordKey + "/" + event.index());
        }
    }

    private void handle(ConsumerRecord<byte[], byte[]> record, CloudEventCodec.Decoded decoded, String eventKey) {
        ModelRegistered registered;
        try {
            if (decoded.problem() != null) {
                throw decoded.problem();
            }
            registered = RegistryAdapters.toRegistered(decoded.event());
        } catch (InvalidInputException e) {
            LOG.warn("event {} refused: {}", eventKey, e.getMessage());
            fail(record, decoded, null, null, "record:" + eventKey, new StageFailure("parse", e, false), null);
            return;
        }
        Optional<String> ignored = RegistryAdapters.ignoreReason(decoded.event(), registered);
        if (ignored.isPresent()) {
            LOG.info("event {} about {} {} ignored ({})", eventKey, registered.name(), registered.version(),
                    ignored.get());
            metrics.eventIgnored(ignored.get());
            return;
        }
        PipelineSpec pipeline = pipelineOf(registered);
        String jobId = JobIds.of(registered.name(), registered.version(), pipeline);
        try {
            Optional<CloudEvent> previous = outcomes.find(jobId);
            if (previous.isPresent()) {
                LOG.info("job {} was done before; publishing its outcome again", jobId);
                publishOrThrow(topicOf(previous.get()), registered.name(), previous.get());
                metrics.jobFinished("duplicate", pipeline.toString(), null);
                return;
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the outcome store: " + e.getMessage(), e);
        }
        tracker.queued(jobId, registered.model(), pipeline.toString());
        long start = System.nanoTime();
        Duration backoff = settings.firstBackoff();
        JobReport optimized = null; // kept across attempts: a failed registration does not optimize again
        for (int attempt = 1; ; attempt++) {
            tracker.running(jobId);
            try {
                if (optimized == null) {
                    optimized = execute(registered, pipeline, jobId);
                }
                JobReport report = registerBack(registered, optimized, jobId);
                CloudEvent outcome = OutcomeEvents.optimized(report, clock.instant());
                saveOutcome(jobId, outcome);
                publishOrThrow(topics.optimized(), registered.name(), outcome);
                tracker.optimized(jobId, report);
                metrics.jobFinished("optimized", pipeline.toString(), Duration.ofNanos(System.nanoTime() - start));
                metrics.modelSizes(report.input().bytes(), report.output().bytes());
                metrics.evaluated(report);
                LOG.info("job {} optimized {} {}: {} -> {} bytes", jobId, registered.name(), registered.version(),
                        report.input().bytes(), report.output().bytes());
                return;
            } catch (StageFailure failure) {
                if (failure.retriable && attempt < settings.maxAttempts()) {
                    LOG.warn("job {} attempt {} failed at {}, retrying in {} ms: {}", jobId, attempt, failure.stage,
                            backoff.toMillis(), failure.getMessage());
                    sleep(backoff);
                    backoff = backoff.multipliedBy(2);
                    continue;
                }
                LOG.warn("job {} failed at {}: {}", jobId, failure.stage, failure.getMessage());
                fail(record, decoded, registered.model(), jobId, jobId, failure, pipeline.toString());
                metrics.jobFinished(failure.stage.equals("gate") ? "rejected" : "failed", pipeline.toString(),
                        Duration.ofNanos(System.nanoTime() - start));
                if (failure.report != null) {
                    metrics.evaluated(failure.report);
                }
                return;
            }
        }
    }

    /**
     * Registers the stored result back in its registry when asked; stage {@code register}, with the
     * optimized report attached to a failure so that the result is not lost from sight.
     */
    private JobReport registerBack(ModelRegistered registered, JobReport report, String jobId) throws StageFailure {
        Path dir = settings.workDir().resolve(jobId + "-register-" + UUID.randomUUID());
        try {
            tracker.step(jobId, "register", null);
            Files.createDirectories(dir);
            return registries.register(registered, report, Path.of(URI.create(report.output().uri())), dir);
        } catch (RegistryException e) {
            throw new StageFailure("register", e, e.retriable(), report);
        } catch (InvalidInputException | IllegalArgumentException e) {
            throw new StageFailure("register", e, false, report);
        } catch (IOException | RuntimeException e) {
            throw new StageFailure("register", e, true, report);
        } finally {
            Folders.deleteQuietly(dir);
        }
    }

    private JobReport execute(ModelRegistered registered, PipelineSpec pipeline, String jobId) throws StageFailure {
        Path jobDir = settings.workDir().resolve(jobId + "-" + UUID.randomUUID());
        try {
            Path in = createDirectories(jobDir.resolve("in"));
            ResolvedArtifact artifact = resolve(registered, in);
            Path modelFile;
            Map<DataRole, Path> data = new EnumMap<>(DataRole.class);
            try {
                modelFile = artifact.file() != null ? artifact.file() : fetcher.fetch(artifact.uri(), in);
                for (DataSources.Source source : DataSources.all()) {
                    data.put(source.role(), fetchOptional(source.uri().apply(registered),
                            Files.createDirectories(jobDir.resolve(source.folder()))));
                }
            } catch (ArtifactException e) {
                throw new StageFailure("fetch", e, e.retriable());
            } catch (InvalidInputException | IOException e) {
                throw new StageFailure("fetch", e, e instanceof IOException);
            }
            JobResult result;
            try {
                String format = registered.format() != null ? registered.format() : artifact.format();
                JobRequest request = new JobRequest(jobId, registered.model(), artifact.location(), modelFile,
                        format == null ? null : new ModelFormat(format), pipeline, data, settings.gates());
                JobRunner runner = new JobRunner(catalog, runtime.service(device.device(), jobDir.resolve("ort")),
                        jobDir.resolve("steps"), settings.runner());
                result = runner.run(request, new Progress(jobId), () -> cancelled);
            } catch (GateFailedException e) {
                throw new StageFailure("gate", e, false, rejectedReport(e.result(), jobDir));
            } catch (StepFailedException e) {
                throw new StageFailure("step:" + e.transformId(), e, e.retriable());
            } catch (InvalidInputException e) {
                throw new StageFailure("pipeline", e, false);
            } catch (IOException e) {
                throw new StageFailure("pipeline", e, true);
            } catch (TransformCancelledException e) {
                throw e; // the service is stopping: left uncommitted, delivered again after the restart
            } catch (RuntimeException | LinkageError e) {
                // A defect, not the input's fault: retried, then failed with the record on the dead-letter topic
                // rather than left uncommitted to come back after every restart.
                LOG.error("job {} hit an unexpected error", jobId, e);
                throw new StageFailure("pipeline", e, true);
            }
            try {
                Path out = Files.createDirectories(jobDir.resolve("out")).resolve(result.zipName());
                result.output().save(out);
                StoredArtifact stored = store.putModel(out);
                ArtifactSummary measured = ArtifactMeasurer.measure(stored.path(), result.output(), result.zipName());
                ArtifactSummary summary = measured.withUri(stored.uri().toString());
                return result.report(summary, device.note() == null ? List.of() : List.of(device.note()));
            } catch (IOException | RuntimeException e) {
                throw new StageFailure("store", e, true);
            }
        } finally {
            Folders.deleteQuietly(jobDir);
        }
    }

    /** The report of a result that failed a gate: measured, but not stored, so its output has no URI. */
    private JobReport rejectedReport(JobResult rejected, Path jobDir) {
        try {
            Path file = Files.createDirectories(jobDir.resolve("rejected")).resolve(rejected.zipName());
            rejected.output().save(file);
            ArtifactSummary measured = ArtifactMeasurer.measure(file, rejected.output(), rejected.zipName());
            return rejected.report(measured.withUri(null), device.note() == null ? List.of() : List.of(device.note()));
        } catch (IOException e) {
            LOG.warn("cannot measure the rejected result of {}: {}", rejected.request().jobId(), e.getMessage());
            return null;
        }
    }

    /** Where the model is: stage {@code resolve}, retried when the registry could not be asked. */
    private ResolvedArtifact resolve(ModelRegistered registered, Path in) throws StageFailure {
        try {
            return registries.resolve(registered, in);
        } catch (RegistryException e) {
            throw new StageFailure("resolve", e, e.retriable());
        } catch (InvalidInputException | IllegalArgumentException e) {
            throw new StageFailure("resolve", e, false);
        } catch (RuntimeException e) {
            throw new StageFailure("resolve", e, true);
        }
    }

    private static Path createDirectories(Path dir) throws StageFailure {
        try {
            return Files.createDirectories(dir);
        } catch (IOException e) {
            throw new StageFailure("fetch", e, true);
        }
    }

    private Path fetchOptional(String uri, Path dir) {
        return uri == null ? null : fetcher.fetch(URI.create(uri), dir);
    }

    /**
     * Publishes {@code model.failed} and the event on the dead-letter topic: the record as read, or for
     * one element of a JSON array of events that element alone, with its index in a header.
     */
    private void fail(ConsumerRecord<byte[], byte[]> record, CloudEventCodec.Decoded decoded, ModelRef model,
                      String jobId, String eventKey, StageFailure failure, String pipeline) {
        ModelFailed failed = new ModelFailed(jobId, model, failure.stage, failure.getMessage(), failure.retriable,
                failure.report);
        CloudEvent event = OutcomeEvents.failed(failed, eventKey, clock.instant());
        if (jobId != null && !failure.retriable) {
            saveOutcome(jobId, event);
        }
        publishOrThrow(topics.failed(), model == null ? keyText(record) : model.name(), event);
        metrics.jobFailed(failure.stage, pipeline == null ? RefineryMetrics.UNKNOWN_PIPELINE : pipeline);
        if (failure.stage.equals("gate")) { // a judged result, not a record that needs attention
            tracker.failed(jobId, failed);
            return;
        }
        List<Header> headers = new ArrayList<>();
        record.headers().forEach(headers::add);
        headers.add(header("refinery.errors.topic", record.topic()));
        headers.add(header("refinery.errors.partition", Integer.toString(record.partition())));
        headers.add(header("refinery.errors.offset", Long.toString(record.offset())));
        headers.add(header("refinery.errors.stage", failure.stage));
        headers.add(header("refinery.errors.exception.class.name", failure.getCause().getClass().getName()));
        headers.add(header("refinery.errors.exception.message", failure.getMessage()));
        headers.add(header("refinery.errors.retriable", Boolean.toString(failure.retriable)));
        if (jobId != null) {
            headers.add(header("refinery.errors.job.id", jobId));
        }
        if (decoded.index() >= 0) {
            headers.add(header(BATCH_INDEX_HEADER, Integer.toString(decoded.index())));
        }
        await(publisher.send(topics.deadLetter(), record.key(), decoded.json(), headers), "dead letter");
        if (jobId != null) {
            tracker.failed(jobId, failed);
        } else {
            metrics.jobFinished("failed", pipeline == null ? RefineryMetrics.UNKNOWN_PIPELINE : pipeline, null);
        }
    }

    private void saveOutcome(String jobId, CloudEvent outcome) {
        try {
            outcomes.save(jobId, outcome);
        } catch (IOException e) {
            throw new IllegalStateException("cannot save the outcome of " + jobId + ": " + e.getMessage(), e);
        }
    }

    private String topicOf(CloudEvent outcome) {
        return outcome.type().equals(EventTypes.MODEL_OPTIMIZED)
                ? topics.optimized() : topics.failed();
    }

    private void publishOrThrow(String topic, String key, CloudEvent event) {
        await(publisher.publish(topic, key, event), event.type());
    }

    /**
     * Waits for Kafka's acknowledgement. The producer retries on its own until its delivery timeout; if
     * that passes, the record is left uncommitted and comes back after a restart.
     */
    private static void await(CompletableFuture<?> sent, String what) {
        try {
            sent.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while publishing " + what, e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("cannot publish " + what + ": " + e.getCause(), e.getCause());
        }
    }

    private static Map<String, String> headers(ConsumerRecord<byte[], byte[]> record) {
        Map<String, String> out = new HashMap<>();
        for (Header h : record.headers()) {
            if (h.value() != null) {
                out.put(h.key(), new String(h.value(), StandardCharsets.UTF_8));
            }
        }
        return out;
    }

    private static String keyText(ConsumerRecord<byte[], byte[]> record) {
        return record.key() == null ? null : new String(record.key(), StandardCharsets.UTF_8);
    }

    private static Header header(String key, String value) {
        return new RecordHeader(key, value.getBytes(StandardCharsets.UTF_8));
    }

    private static void sleep(Duration duration) {
        try {
            Thread.sleep(duration.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting to retry", e);
        }
    }

    /** Reports a job's steps to the tracker and the metrics. */
    private final class Progress implements JobListener {
        private final String jobId;
        private String step;

        Progress(String jobId) {
            this.jobId = jobId;
        }

        @Override
        public void stepStarted(int index, int count, TransformDescriptor descriptor) {
            step = index + "/" + count + " " + descriptor.id();
            tracker.step(jobId, step, null);
        }

        @Override
        public void stepProgress(int index, long done, long total, String what) {
            tracker.step(jobId, step, what + " " + done + (total > 0 ? "/" + total : ""));
        }

        @Override
        public void stepMilestone(int index, String what) {
            tracker.step(jobId, step, what);
        }

        @Override
        public void stepFinished(int index, StepRecord record) {
            metrics.stepFinished(record);
        }

        @Override
        public void evaluationStarted() {
            step = "evaluation";
            tracker.step(jobId, step, null);
        }

        @Override
        public void evaluationProgress(long done, long total, String what) {
            stepProgress(0, done, total, what);
        }

        @Override
        public void candidateFinished(int done, int total, Candidate candidate) {
            step = "auto " + done + "/" + total;
            tracker.step(jobId, step, candidate.pipeline() + ": " + candidate.outcome());
        }
    }
}
