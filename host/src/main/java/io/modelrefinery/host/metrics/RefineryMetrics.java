package io.modelrefinery.host.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.event.GateResult;
import io.modelrefinery.api.event.JobReport;
import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.train.TrainingMetrics;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * The refinery's meters, under the Prometheus names of the public contract:
 * {@code refinery_jobs_total{outcome,pipeline}}, {@code refinery_job_duration_seconds{pipeline}},
 * {@code refinery_step_duration_seconds{transform,device}}, {@code refinery_model_bytes{side}},
 * {@code refinery_bytes_saved_total}, {@code refinery_plugins{state}},
 * {@code refinery_job_failures_total{stage,pipeline}}, plus JVM meters; and from evaluations
 * {@code refinery_accuracy_drop}, {@code refinery_output_sqnr_db}, {@code refinery_latency_ratio} and
 * {@code refinery_gate_checks_total{gate,result}}; {@code refinery_events_ignored_total{reason}} for
 * registry events that start no job. Durations publish histogram buckets, so dashboards can take
 * percentiles across instances. {@link #expect} registers the counters of every label set known at start
 * at 0, as Prometheus's instrumentation guidelines ask, so that {@code rate()} and {@code increase()} see
 * the first failure.
 */
public final class RefineryMetrics {
    private final MeterRegistry registry;
    private final Counter bytesSaved;
    private final DistributionSummary bytesIn;
    private final DistributionSummary bytesOut;

    public RefineryMetrics(MeterRegistry registry) {
        this.registry = registry;
        this.bytesSaved = Counter.builder("refinery.bytes.saved")
                .description("Bytes by which optimized models are smaller than their inputs").register(registry);
        this.bytesIn = modelBytes("in");
        this.bytesOut = modelBytes("out");
    }

    /** A Prometheus registry with JVM and process meters bound. */
    public static PrometheusMeterRegistry prometheusRegistry() {
        PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        new JvmMemoryMetrics().bindTo(registry);
        new JvmGcMetrics().bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        return registry;
    }

    public MeterRegistry registry() {
        return registry;
    }

    private DistributionSummary modelBytes(String side) {
        return DistributionSummary.builder("refinery.model.bytes").baseUnit("bytes").tag("side", side)
                .description("Model file sizes before (in) and after (out) optimization").register(registry);
    }

    /** Every outcome {@link #jobFinished} counts. */
    public static final List<String> OUTCOMES = List.of("optimized", "rejected", "failed", "duplicate");
    /** The pipeline label of failures that happen before the event names one (stage {@code parse}). */
    public static final String UNKNOWN_PIPELINE = "unknown";

    /**
     * Registers the counters of the label sets known before the first job at 0: every outcome and
     * failure stage of each configured pipeline, parse failures of unknown pipelines, every gate result
     * and every reason to ignore an event. Label sets that only events reveal (pipelines an event names)
     * still appear with their first count.
     *
     * @param stages the stages a job of these pipelines can fail in, {@code step:TRANSFORM} included
     */
    public void expect(List<String> pipelines, List<String> stages, List<String> gates, List<String> ignoreReasons) {
        for (String pipeline : pipelines) {
            for (String outcome : OUTCOMES) {
                jobs(outcome, pipeline);
            }
            for (String stage : stages) {
                failures(stage, pipeline);
            }
        }
        jobs("failed", UNKNOWN_PIPELINE);
        failures("parse", UNKNOWN_PIPELINE);
        for (String gate : gates) {
            gateChecks(gate, true);
            gateChecks(gate, false);
        }
        for (String reason : ignoreReasons) {
            ignored(reason);
        }
    }

    private Counter jobs(String outcome, String pipeline) {
        return Counter.builder("refinery.jobs").description("Jobs by outcome and pipeline")
                .tag("outcome", outcome).tag("pipeline", pipeline).register(registry);
    }

    private Counter failures(String stage, String pipeline) {
        return Counter.builder("refinery.job.failures").description("Failed jobs by the stage they failed in")
                .tag("stage", stage).tag("pipeline", pipeline).register(registry);
    }

    private Counter gateChecks(String gate, boolean passed) {
        return Counter.builder("refinery.gate.checks").description("Quality gate checks by gate and result")
                .tag("gate", gate).tag("result", passed ? "passed" : "failed").register(registry);
    }

    private Counter ignored(String reason) {
        return Counter.builder("refinery.events.ignored")
                .description("Registry events that start no job: the refinery's own results, rejected packages")
                .tag("reason", reason).register(registry);
    }

    /** Counts a registry event that starts no job, by why. */
    public void eventIgnored(String reason) {
        ignored(reason).increment();
    }

    /**
     * Counts a finished job.
     *
     * @param outcome {@code optimized}, {@code rejected} (failed a quality gate), {@code failed} or
     *     {@code duplicate} (an earlier outcome re-published)
     */
    public void jobFinished(String outcome, String pipeline, Duration duration) {
        jobs(outcome, pipeline).increment();
        if (duration != null) {
            Timer.builder("refinery.job.duration").description("Wall time of jobs, fetch to stored output")
                    .tag("pipeline", pipeline).publishPercentileHistogram().register(registry).record(duration);
        }
    }

    /**
     * Counts a job that ended in {@code model.failed}, by the stage it failed in: {@code parse}, {@code resolve},
     * {@code fetch}, {@code pipeline}, {@code step:TRANSFORM}, {@code gate}, {@code store} or
     * {@code register}. Retried attempts are not counted; only the final failure is.
     */
    public void jobFailed(String stage, String pipeline) {
        failures(stage, pipeline).increment();
    }

    public void stepFinished(StepRecord step) {
        Timer.builder("refinery.step.duration").description("Wall time of pipeline steps")
                .tag("transform", step.transform()).tag("device", step.device())
                .publishPercentileHistogram().register(registry).record(Duration.ofMillis(step.durationMs()));
        training(step);
    }

    /** A step that trained (its metrics say so, see {@link TrainingMetrics}): throughput, epochs, last epoch's loss and accuracy. */
    private void training(StepRecord step) {
        Map<String, Double> m = step.metrics();
        Double epochs = m.get(TrainingMetrics.EPOCHS);
        if (epochs == null || epochs < 1) {
            return;
        }
        String transform = step.transform();
        Counter.builder("refinery.training.epochs").description("Training epochs run by steps that train")
                .tag("transform", transform).register(registry).increment(epochs);
        Double rate = m.get(TrainingMetrics.SAMPLES_PER_SECOND);
        if (rate != null) {
            DistributionSummary.builder("refinery.training.samples.per.second")
                    .description("Training throughput of a step: forward, backward and optimizer step")
                    .tag("transform", transform).register(registry).record(rate);
        }
        int last = epochs.intValue();
        Double loss = m.get(TrainingMetrics.epochLoss(last));
        if (loss != null) {
            DistributionSummary.builder("refinery.training.loss").description("Mean training loss of a step's last epoch")
                    .tag("transform", transform).register(registry).record(loss);
        }
        Double accuracy = m.get(TrainingMetrics.epochAccuracy(last));
        if (accuracy != null) {
            DistributionSummary.builder("refinery.training.accuracy")
                    .description("Training accuracy of a step's last epoch, as a share")
                    .tag("transform", transform).register(registry).record(accuracy);
        }
    }

    /** Records the sizes of a job's input and output model files. */
    public void modelSizes(long inputBytes, long outputBytes) {
        bytesIn.record(inputBytes);
        bytesOut.record(outputBytes);
        if (outputBytes < inputBytes) {
            bytesSaved.increment(inputBytes - outputBytes);
        }
    }

    /** Records what a job's evaluation measured and how its gates went; nothing when it was not evaluated. */
    public void evaluated(JobReport report) {
        Evaluation e = report.evaluation();
        if (e == null) {
            return;
        }
        if (e.accuracyDrop() != null) {
            DistributionSummary.builder("refinery.accuracy.drop").description("Accuracy lost by optimization, as a share")
                    .register(registry).record(e.accuracyDrop());
        }
        if (e.sqnrDb() != null) {
            DistributionSummary.builder("refinery.output.sqnr.db").baseUnit("db")
                    .description("Signal-to-noise ratio of optimized outputs against the originals")
                    .register(registry).record(e.sqnrDb());
        }
        if (e.latencyRatio() != null) {
            DistributionSummary.builder("refinery.latency.ratio").description("Optimized over original median latency")
                    .register(registry).record(e.latencyRatio());
        }
        for (GateResult gate : e.gates()) {
            gateChecks(gate.gate(), gate.passed()).increment();
        }
    }

    /** A gauge of plugins in one state, read from {@code source} at each scrape. */
    public <T> void pluginGauge(String state, T source, ToDoubleFunction<T> count) {
        Gauge.builder("refinery.plugins", source, count).description("Plugin jars by state")
                .tag("state", state.toLowerCase(Locale.ROOT)).register(registry);
    }
}
