package io.modelrefinery.api.event;


import java.util.List;

/**
 * The report of a finished job: written by {@code optimize --report} and carried as the data of a
 * {@code model.optimized} event. Field names are the public contract (docs/events.md).
 *
 * @param jobId deterministic job id
 * @param model the registered model
 * @param pipeline the pipeline as run, canonical form
 * @param input the model before
 * @param output the model after
 * @param steps what each step did
 * @param evaluation accuracy, fidelity and latency before and after, and the gates checked; {@code null}
 *     when not evaluated
 * @param candidates for the {@code auto} pipeline, every recipe tried with its numbers; {@code null} otherwise
 * @param notes what the host decided on its own, for example that {@code --device auto} chose the CPU
 * @param registered the registry version the result was registered as (api.event 1.2); {@code null} when
 *     it was not registered back
 * @param search for the {@code auto} pipeline, how much work the search did and saved (api.event 1.4);
 *     {@code null} otherwise
 */
public record JobReport(String jobId, ModelRef model, String pipeline, ArtifactSummary input, ArtifactSummary output,
                        List<StepRecord> steps, Evaluation evaluation, List<Candidate> candidates, List<String> notes,
                        RegisteredVersion registered, SearchSummary search) {
    public JobReport {
        steps = List.copyOf(steps);
        candidates = candidates == null ? null : List.copyOf(candidates);
        notes = List.copyOf(notes);
    }

    /** A report without a search summary (api.event 1.3). */
    public JobReport(String jobId, ModelRef model, String pipeline, ArtifactSummary input, ArtifactSummary output,
                     List<StepRecord> steps, Evaluation evaluation, List<Candidate> candidates, List<String> notes,
                     RegisteredVersion registered) {
        this(jobId, model, pipeline, input, output, steps, evaluation, candidates, notes, registered, null);
    }

    /** A report of a result not registered back. */
    public JobReport(String jobId, ModelRef model, String pipeline, ArtifactSummary input, ArtifactSummary output,
                     List<StepRecord> steps, Evaluation evaluation, List<Candidate> candidates, List<String> notes) {
        this(jobId, model, pipeline, input, output, steps, evaluation, candidates, notes, null);
    }

    /** The same report, registered back as {@code version}. */
    public JobReport withRegistered(RegisteredVersion version) {
        return new JobReport(jobId, model, pipeline, input, output, steps, evaluation, candidates, notes, version, search);
    }
}
