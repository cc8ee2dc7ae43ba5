package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.onnx.ModelValidator;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.OnnxArtifact;
import io.modelrefinery.api.plugin.Progress;
import io.modelrefinery.api.plugin.TransformCancelledException;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformResult;
import io.modelrefinery.host.files.Folders;
import io.modelrefinery.host.ort.ProbeRun;
import io.modelrefinery.host.ort.ProbeWorker;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Runs a planned pipeline: each step on the previous step's output, timed, its output checked, its
 * record kept. The host's bookkeeping around a transform lives here, so that transforms stay small.
 */
public final class PipelineRunner {
    private static final Logger LOG = LoggerFactory.getLogger(PipelineRunner.class);

    /** Refuses a job lacking a dataset one of its steps requires, before any step runs. */
    public static void requireData(PipelinePlan plan, JobData data) {
        for (int i = 0; i < plan.steps().size(); i++) {
            PlannedStep step = plan.steps().get(i);
            TransformDescriptor descriptor = step.descriptor();
            for (DataRole role : descriptor.requiredData(step.params())) {
                if (!data.has(role)) {
                    String condition = descriptor.requiredData().contains(role) ? "" : descriptor.conditionalData().stream()
                            .filter(r -> r.role() == role && r.appliesTo(step.params()))
                            .map(r -> " with " + r.condition()).findFirst().orElse("");
                    // numbered as written: nothing has run yet, so no progress line shows the steps the plan added
                    int index = plan.writtenIndex(i) > 0 ? plan.writtenIndex(i) : i + 1;
                    throw new InvalidInputException("step " + index + " '" + descriptor.id() + "' needs " + role.label()
                            + " samples" + condition + ": give " + JobData.optionFor(role) + " FILE or the event's "
                            + JobData.eventFieldFor(role));
                }
            }
        }
    }

    /**
     * Runs every step of {@code plan} on {@code input}.
     *
     * @throws InvalidInputException if the input or data cannot be processed (message names the step)
     * @throws StepFailedException if a step fails otherwise, or produces a model that is not valid ONNX
     *     or that ONNX Runtime cannot load
     * @throws TransformCancelledException if the job was cancelled
     */
    public PipelineResult run(PipelinePlan plan, ModelArtifact input, JobEnvironment environment, JobListener listener) {
        requireData(plan, environment.data());
        ProbeWorker.shared().prestart(); // with cores to spare, the check's child starts while the first step works
        List<StepRecord> records = new ArrayList<>();
        ModelArtifact current = input;
        ModelArtifact reference = input instanceof OnnxArtifact ? input : null;
        int count = plan.steps().size();
        for (int i = 0; i < count; i++) {
            PlannedStep step = plan.steps().get(i);
            int index = i + 1;
            TransformDescriptor descriptor = step.descriptor();
            environment.cancellation().throwIfCancelled();
            listener.stepStarted(index, count, descriptor);
            Path scratch = createScratch(environment.scratchRoot(), index, descriptor.id());
            AtomicBoolean expired = new AtomicBoolean();
            List<String> lateNotes = new CopyOnWriteArrayList<>(); // written on the step's thread
            StepContext context = new StepContext(environment, descriptor.id(), new Progress() {
                        @Override
                        public void update(long done, long total, String what) {
                            listener.stepProgress(index, done, total, what);
                        }

                        @Override
                        public void milestone(String what) {
                            listener.stepMilestone(index, what);
                        }
                    }, scratch,
                    () -> expired.get() || environment.cancellation().isCancelled());
            MDC.put("job", environment.jobId());
            MDC.put("step", descriptor.id());
            long start = System.nanoTime();
            TransformResult result;
            try {
                ModelArtifact stepInput = current;
                Callable<TransformResult> work = () -> step.handle().transform().apply(context,
                        step.lateUpgrade() == null ? stepInput
                                : step.lateUpgrade().apply(context, stepInput, environment.inference(), lateNotes),
                        step.params());
                result = environment.limits().limited() ? within(environment.limits(), expired, work, index, descriptor)
                        : work.call();
                if (result == null) {
                    throw new IllegalStateException("the transform returned no result");
                }
                // the evaluation runs the result, and a reference a converter made, in this process: check those so first
                boolean evaluated = index == count || (reference == null && result.output() instanceof OnnxArtifact);
                checkOutput(result.output(), descriptor, environment.inference(), stepInput,
                        evaluated ? environment.evaluationRuns() : List.of());
            } catch (Exception | LinkageError | OutOfMemoryError e) {
                RuntimeException failure = classify(index, descriptor, e);
                listener.stepFailed(index, failure);
                throw failure;
            } finally {
                MDC.remove("job");
                MDC.remove("step");
                Folders.deleteQuietly(scratch);
            }
            long durationMs = (System.nanoTime() - start) / 1_000_000;
            StepRecord record = new StepRecord(descriptor.id(), descriptor.version(), step.params().rendered(),
                    durationMs, environment.inference().device().id(), result.metrics(),
                    notes(lateNotes, step.params(), result));
            LOG.info("step {} {} {} took {} ms", index, descriptor.id(), descriptor.version(), durationMs);
            records.add(record);
            listener.stepFinished(index, record);
            current = result.output();
            if (reference == null && current instanceof OnnxArtifact) {
                reference = current;
            }
        }
        return new PipelineResult(current, records, reference == null ? null : reference.onnxModel());
    }

    /** An opset conversion made first, the parameters' warnings (a deprecated name used), then the transform's own notes. */
    private static List<String> notes(List<String> late, Params params, TransformResult result) {
        if (late.isEmpty() && params.warnings().isEmpty()) {
            return result.notes();
        }
        List<String> notes = new ArrayList<>(late);
        notes.addAll(params.warnings());
        notes.addAll(result.notes());
        return notes;
    }

    /**
     * Runs {@code work} on its own thread for at most the step's time limit. When the time is up, sets
     * {@code expired} (the step's cancellation) and interrupts the thread, waits the grace period, and
     * fails the step either way; a step still running then is left behind on its daemon thread.
     */
    private static TransformResult within(StepLimits limits, AtomicBoolean expired, Callable<TransformResult> work,
                                          int index, TransformDescriptor descriptor) throws Exception {
        Map<String, String> mdc = MDC.getCopyOfContextMap();
        FutureTask<TransformResult> task = new FutureTask<>(() -> {
            if (mdc != null) {
                MDC.setContextMap(mdc);
            }
            return work.call();
        });
        Thread thread = new Thread(task, "refinery-step-" + descriptor.id());
        thread.setDaemon(true);
        thread.start();
        try {
            return task.get(limits.timeout().toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException timedOut) {
            expired.set(true);
            thread.interrupt();
            try {
                task.get(limits.grace().toNanos(), TimeUnit.NANOSECONDS);
            } catch (TimeoutException stillRunning) {
                LOG.warn("step {} '{}' ignored its cancellation for {} after its time limit; its thread is abandoned",
                        index, descriptor.id(), limits.grace());
            } catch (ExecutionException | CancellationException ended) {
                // it stopped, as asked
            }
            Duration limit = limits.timeout();
            throw new StepTimeoutException("it ran longer than its time limit of "
                    + (limit.toMillis() < 1000 ? limit.toMillis() + " ms" : limit.toSeconds() + " s"));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            expired.set(true);
            thread.interrupt();
            throw new TransformCancelledException();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Exception cause) {
                throw cause;
            }
            throw (Error) e.getCause();
        }
    }

    /** A step that outlived its time limit: not retriable, the same input would take as long again. */
    static final class StepTimeoutException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        StepTimeoutException(String message) {
            super(message);
        }
    }

    /** Cancellation and bad input keep their kind (bad input names the step); anything else fails the step. */
    private static RuntimeException classify(int index, TransformDescriptor descriptor, Throwable e) {
        if (e instanceof TransformCancelledException) {
            return (TransformCancelledException) e;
        }
        if (e instanceof InvalidInputException) {
            return new InvalidInputException("step " + index + " '" + descriptor.id() + "': " + e.getMessage(), e);
        }
        return new StepFailedException(index, descriptor.id(), e);
    }

    /**
     * A transform must produce the format it declares, and an ONNX output must pass structural
     * validation, load in ONNX Runtime and run once there ({@link OutputRunCheck}): a broken model is the
     * step's failure, not the next one's, nor a deployer's. An output that fails only on generated inputs
     * passes when the step's ONNX input fails on them too (a model that needs meaningful inputs, such as
     * shapes or indices, to run at all).
     * Public for the plugin test kit, which holds plugins to the same check.
     *
     * @param input the step's input, or {@code null} when unknown
     * @throws IllegalStateException saying what is wrong with the output
     */
    public static void checkOutput(ModelArtifact output, TransformDescriptor descriptor, InferenceService inference,
                                   ModelArtifact input) {
        checkOutput(output, descriptor, inference, input, List.of());
    }

    /**
     * {@link #checkOutput(ModelArtifact, TransformDescriptor, InferenceService, ModelArtifact)} with
     * {@code runs} besides a deployer's: how the job's evaluation will run the output (its batch size, one
     * intra-op thread; {@link JobEnvironment#evaluationRuns()}), made in the check's child process first.
     */
    static void checkOutput(ModelArtifact output, TransformDescriptor descriptor, InferenceService inference,
                            ModelArtifact input, List<ProbeRun> runs) {
        if (!output.format().equals(descriptor.outputFormat())) {
            throw new IllegalStateException("it produced a " + output.format() + " model but declares "
                    + descriptor.outputFormat());
        }
        if (!(output instanceof OnnxArtifact)) {
            return;
        }
        OnnxModel model = ((OnnxArtifact) output).model();
        try {
            ModelValidator.validate(model);
        } catch (InvalidInputException e) {
            throw new IllegalStateException("it produced an invalid model: " + e.getMessage(), e);
        }
        OutputRunCheck check = new OutputRunCheck(inference, runs);
        Optional<OutputRunCheck.Failure> failure = check.failure(model);
        if (failure.isEmpty()) {
            LOG.debug("output of {} loads and runs in ONNX Runtime", descriptor.id());
            return;
        }
        OutputRunCheck.Failure f = failure.get();
        if (f.crashed()) {
            // the child process died, not the host; a deployer's process would not be so lucky
            throw new IllegalStateException("ONNX Runtime crashed (" + f.reason() + ") " + f.where()
                    + ", in a separate process");
        }
        if (!f.loads()) {
            throw new IllegalStateException("it produced a model ONNX Runtime cannot load" + f.unlessDeployer() + ": "
                    + f.reason());
        }
        if (input instanceof OnnxArtifact onnxInput && check.failure(onnxInput.model()).isPresent()) {
            LOG.debug("output of {} fails on generated inputs as its input does: {}", descriptor.id(), f.reason());
            return;
        }
        throw new IllegalStateException("it produced a model ONNX Runtime loads but cannot run" + f.unlessDeployer()
                + ": " + f.reason());
    }

    /** {@link #checkOutput(ModelArtifact, TransformDescriptor, InferenceService, ModelArtifact)} without the input. */
    public static void checkOutput(ModelArtifact output, TransformDescriptor descriptor, InferenceService inference) {
        checkOutput(output, descriptor, inference, null);
    }

    private static Path createScratch(Path root, int index, String id) {
        try {
            return Files.createDirectories(root.resolve("step-" + index + "-" + id));
        } catch (IOException e) {
            throw new StepFailedException(index, id, e);
        }
    }
}
