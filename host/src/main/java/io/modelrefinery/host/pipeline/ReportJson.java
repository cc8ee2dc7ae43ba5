package io.modelrefinery.host.pipeline;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.modelrefinery.api.AtomicFiles;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** Writes and reads {@link JobReport}s as JSON. */
public final class ReportJson {
    private static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private ReportJson() {
    }

    public static String toJson(JobReport report) {
        try {
            return MAPPER.writeValueAsString(report);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a report is always serializable", e);
        }
    }

    /** Writes the report atomically. */
    public static void write(Path file, JobReport report) throws IOException {
        AtomicFiles.write(file, (toJson(report) + "\n").getBytes(StandardCharsets.UTF_8));
    }
}
