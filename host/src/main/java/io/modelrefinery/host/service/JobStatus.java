package io.modelrefinery.host.service;

import io.modelrefinery.api.event.JobReport;
import io.modelrefinery.api.event.ModelFailed;
import io.modelrefinery.api.event.ModelRef;

import java.time.Instant;

/**
 * What {@code GET /jobs/{id}} shows about a job.
 *
 * @param jobId the job
 * @param model the registered model
 * @param pipeline canonical pipeline spec
 * @param state {@code queued}, {@code running}, {@code optimized}, {@code failed}
 * @param step the current step while running, such as {@code 2/3 quantize-static}
 * @param progress the current step's progress, such as {@code calibrating 300/1000}
 * @param attempts how many times the job ran (retries count)
 * @param updated when this status changed last
 * @param report the report once optimized
 * @param failure the failure once failed
 */
public record JobStatus(String jobId, ModelRef model, String pipeline, String state, String step, String progress,
                        int attempts, Instant updated, JobReport report, ModelFailed failure) {
}
