package io.modelrefinery.host.service;

import io.modelrefinery.api.event.JobReport;
import io.modelrefinery.api.event.ModelFailed;
import io.modelrefinery.api.event.ModelRef;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The jobs this instance knows, for {@code GET /jobs}: running ones, and the most recent finished ones
 * (bounded, oldest forgotten first). Thread-safe.
 */
public final class JobTracker {
    private final int keepFinished;
    private final Map<String, JobStatus> jobs = new LinkedHashMap<>();

    public JobTracker(int keepFinished) {
        this.keepFinished = keepFinished;
    }

    public synchronized void queued(String jobId, ModelRef model, String pipeline) {
        JobStatus previous = jobs.remove(jobId);
        int attempts = previous == null ? 0 : previous.attempts();
        jobs.put(jobId, new JobStatus(jobId, model, pipeline, "queued", null, null, attempts, Instant.now(), null, null));
        trim();
    }

    public synchronized void running(String jobId) {
        update(jobId, s -> new JobStatus(s.jobId(), s.model(), s.pipeline(), "running", s.step(), s.progress(),
                s.attempts() + 1, Instant.now(), null, null));
    }

    public synchronized void step(String jobId, String step, String progress) {
        update(jobId, s -> new JobStatus(s.jobId(), s.model(), s.pipeline(), s.state(), step, progress, s.attempts(),
                Instant.now(), null, null));
    }

    public synchronized void optimized(String jobId, JobReport report) {
        update(jobId, s -> new JobStatus(s.jobId(), s.model(), s.pipeline(), "optimized", null, null, s.attempts(),
                Instant.now(), report, null));
    }

    public synchronized void failed(String jobId, ModelFailed failure) {
        update(jobId, s -> new JobStatus(s.jobId(), s.model(), s.pipeline(), "failed", s.step(), null, s.attempts(),
                Instant.now(), null, failure));
    }

    public synchronized Optional<JobStatus> get(String jobId) {
        return Optional.ofNullable(jobs.get(jobId));
    }

    /** All known jobs, most recently changed first. */
    public synchronized List<JobStatus> all() {
        List<JobStatus> out = new ArrayList<>(jobs.values());
        out.sort(Comparator.comparing(JobStatus::updated).reversed());
        return out;
    }

    private void update(String jobId, java.util.function.UnaryOperator<JobStatus> change) {
        JobStatus status = jobs.get(jobId);
        if (status != null) {
            jobs.put(jobId, change.apply(status));
        }
    }

    private void trim() {
        long finished = jobs.values().stream().filter(s -> s.state().equals("optimized") || s.state().equals("failed"))
                .count();
        var it = jobs.values().iterator();
        while (finished > keepFinished && it.hasNext()) {
            JobStatus s = it.next();
            if (s.state().equals("optimized") || s.state().equals("failed")) {
                it.remove();
                finished--;
            }
        }
    }
}
