package io.modelrefinery.host.job;

import io.modelrefinery.api.event.ArtifactSummary;
import io.modelrefinery.api.event.JobReport;
import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.onnx.OnnxModel;

import java.util.ArrayList;
import java.util.List;

/**
 * A pipeline that ran to the end; its output is not stored yet.
 *
 * @param request what was asked
 * @param output the optimized model
 * @param input measurements of the input model
 * @param steps what each step did
 * @param durationMs wall time of the pipeline
 * @param notes what the host decided by itself while planning (a converter it added)
 */
public record JobResult(JobRequest request, OnnxModel output, ArtifactSummary input, List<StepRecord> steps,
                        long durationMs, List<String> notes) {
    public JobResult {
        steps = List.copyOf(steps);
        notes = List.copyOf(notes);
    }

    /** The report, once the output is stored and measured, with the planning notes before {@code moreNotes}. */
    public JobReport report(ArtifactSummary storedOutput, List<String> moreNotes) {
        List<String> all = new ArrayList<>(notes);
        all.addAll(moreNotes);
        return new JobReport(request.jobId(), request.model(), request.pipeline().toString(), input, storedOutput,
                steps, null, all);
    }

    /** The name the model file gets inside the zip archive when measuring: the input's file name. */
    public String zipName() {
        return request.modelFile().getFileName().toString();
    }
}
