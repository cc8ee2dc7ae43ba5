package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.infer.GraphOptimizationLevel;
import io.modelrefinery.api.infer.InferenceException;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.ModelValidator;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.OnnxArtifact;
import io.modelrefinery.api.plugin.TransformCancelledException;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformResult;
import io.modelrefinery.host.files.Folders;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs a planned pipeline: each step on the previous step's output, timed, its output checked, its
 * record kept. The host's bookkeeping around a transform lives here, so that transforms stay small.
 */
public final class PipelineRunner {
    private static final Logger LOG = LoggerFactory.getLogger(PipelineRunner.class);

    /**
     * Runs every step of {@code plan} on {@code input}.
     *
     * @throws InvalidInputException if the input or data cannot be processed (message names the step)
     * @throws StepFailedException if a step fails otherwise, or produces a model that is not valid ONNX
     *     or that ONNX Runtime cannot load
     * @throws TransformCancelledException if the job was cancelled
     */
    /** Refuses a job lacking a dataset one of its steps requires, before any step runs. */
    public static void requireData(PipelinePlan plan, JobData data) {
        for (int i = 0; i < plan.steps().size(); i++) {
            TransformDescriptor descriptor = plan.steps().get(i).descriptor();
            for (DataRole role : descriptor.requiredData()) {
                if (!data.has(role)) {
                    throw new InvalidInputException("step " + (i + 1) + " '" + descriptor.id() + "' needs " + role.label()
                            + " samples: give " + JobData.optionFor(role) + " FILE or the event's " + JobData.eventFieldFor(role));
                }
            }
        }
    }

    public PipelineResult run(PipelinePlan plan, ModelArtifact input, JobEnvironment environment, JobListener listener) {
        requireData(plan, environment.data());
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
            StepContext context = new StepContext(environment, descriptor.id(),
                    (done, total, what) -> listener.stepProgress(index, done, total, what), scratch);
            MDC.put("job", environment.jobId());
            MDC.put("step", descriptor.id());
            long start = System.nanoTime();
            TransformResult result;
            try {
                result = step.handle().transform().apply(context, current, step.params());
                if (result == null) {
                    throw new IllegalStateException("the transform returned no result");
                }
                checkOutput(result.output(), descriptor, environment);
            } catch (RuntimeException | LinkageError | OutOfMemoryError e) {
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
                    durationMs, environment.inference().device().id(), result.metrics(), result.notes());
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
     * validation and load in ONNX Runtime: a broken model is the step's failure, not the next one's.
     */
    private static void checkOutput(ModelArtifact output, TransformDescriptor descriptor, JobEnvironment environment) {
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
        SessionOptions loadOnly = SessionOptions.defaults().withOptimization(GraphOptimizationLevel.DISABLED);
        try (InferenceSession session = environment.inference().open(model, loadOnly)) {
            LOG.debug("output of {} loads in ONNX Runtime with {} inputs", descriptor.id(), session.inputs().size());
        } catch (InferenceException e) {
            throw new IllegalStateException("it produced a model ONNX Runtime cannot load: " + e.getMessage(), e);
        }
    }

    private static Path createScratch(Path root, int index, String id) {
        try {
            return Files.createDirectories(root.resolve("step-" + index + "-" + id));
        } catch (IOException e) {
            throw new StepFailedException(index, id, e);
        }
    }
}
