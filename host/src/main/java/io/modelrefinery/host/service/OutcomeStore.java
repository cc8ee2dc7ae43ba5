package io.modelrefinery.host.service;

import io.modelrefinery.api.AtomicFiles;
import io.modelrefinery.host.event.CloudEvent;
import io.modelrefinery.host.event.CloudEventCodec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The outcome event of every finished job, by job id, on disk. It is written before the event is
 * published: a job whose record comes back (a crash between publishing and committing, a rebalance) is
 * recognised here and its outcome published again instead of recomputed.
 */
public final class OutcomeStore {
    private static final Pattern JOB_ID = Pattern.compile("job-[0-9a-f]{16}");

    private final Path folder;

    public OutcomeStore(Path folder) throws IOException {
        this.folder = Files.createDirectories(folder);
    }

    /** Keeps the outcome of {@code jobId}, atomically; a later outcome of the same job replaces it. */
    public void save(String jobId, CloudEvent outcome) throws IOException {
        AtomicFiles.write(file(jobId), CloudEventCodec.encode(outcome));
    }

    /** The kept outcome of {@code jobId}, if the job finished before. */
    public Optional<CloudEvent> find(String jobId) throws IOException {
        try {
            return Optional.of(CloudEventCodec.decode(Files.readAllBytes(file(jobId)), Map.of()));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
    }

    private Path file(String jobId) {
        if (!JOB_ID.matcher(jobId).matches()) {
            throw new IllegalArgumentException("not a job id: " + jobId);
        }
        return folder.resolve(jobId + ".json");
    }
}
