package io.modelrefinery.host.job;

import io.modelrefinery.api.event.ArtifactSummary;
import io.modelrefinery.api.event.Candidate;
import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.event.JobReport;
import io.modelrefinery.api.event.SearchSummary;
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
 * @param steps what each step did (for {@code auto}: the chosen recipe's steps)
 * @param evaluation the comparison with the original and the gates checked; {@code null} when the job has
 *     neither evaluation samples nor gates
 * @param candidates for {@code auto}, every recipe tried; {@code null} otherwise
 * @param notes what the host decided on its own during the job
 * @param durationMs wall time of the pipeline and the evaluation
 * @param search for {@code auto}, how much work the search did and saved; {@code null} otherwise
 */
public record JobResult(JobRequest request, OnnxModel output, ArtifactSummary input, List<StepRecord> steps,
                        Evaluation evaluation, List<Candidate> candidates, List<String> notes, long durationMs,
                        SearchSummary search) {
    public JobResult {
        steps = List.copyOf(steps);
        candidates = candidates == null ? null : List.copyOf(candidates);
        notes = List.copyOf(notes);
    }

    /** A result without a search. */
    public JobResult(JobRequest request, OnnxModel output, ArtifactSummary input, List<StepRecord> steps,
                     Evaluation evaluation, List<Candidate> candidates, List<String> notes, long durationMs) {
        this(request, output, input, steps, evaluation, candidates, notes, durationMs, null);
    }

    /** Whether the result may be published as optimized: every gate passed. */
    public boolean passed() {
        return evaluation == null || evaluation.passed();
    }

    /**
     * The report, once the output is stored and measured.
     *
     * @param hostNotes what the caller decided, such as the device; listed after the job's own notes
     */
    public JobReport report(ArtifactSummary storedOutput, List<String> hostNotes) {
        List<String> all = new ArrayList<>(notes);
        all.addAll(hostNotes);
        return new JobReport(request.jobId(), request.model(), request.pipeline().toString(), input, storedOutput,
                steps, evaluation, candidates, all, null, search);
    }

    /** The name the model file gets inside the zip archive when measuring: the input's file name. */
    public String zipName() {
        return request.modelFile().getFileName().toString();
    }
}
