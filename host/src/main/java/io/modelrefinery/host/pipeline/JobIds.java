package io.modelrefinery.host.pipeline;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Deterministic job ids: the same model name, version and pipeline always give the same id, so a
 * redelivered event is recognised instead of redone.
 */
public final class JobIds {
    private JobIds() {
    }

    public static String of(String modelName, String modelVersion, PipelineSpec pipeline) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            for (String part : new String[] {modelName, modelVersion, pipeline.toString()}) {
                digest.update(part.getBytes(StandardCharsets.UTF_8));
                digest.update((byte) 0);
            }
            return "job-" + HexFormat.of().formatHex(digest.digest(), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
