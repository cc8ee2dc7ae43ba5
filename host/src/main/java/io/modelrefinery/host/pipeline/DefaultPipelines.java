package io.modelrefinery.host.pipeline;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/**
 * The pipelines the host runs when none is given, read from {@code default-pipelines.properties} next to
 * this class: the host's code names no transform.
 */
public final class DefaultPipelines {
    private static final Properties DEFAULTS = load();

    /** The pipeline of a job that names none. */
    public static final String JOB = get("job");

    /** The pipeline of {@code refinery demo}. */
    public static final String DEMO = get("demo");

    private DefaultPipelines() {
    }

    private static String get(String key) {
        String value = DEFAULTS.getProperty(key);
        if (value == null || value.isBlank()) {
            throw new IllegalStateException("default-pipelines.properties sets no '" + key + "'");
        }
        PipelineSpec.parse(value); // a broken default fails at start, not with the first job
        return value.strip();
    }

    private static Properties load() {
        Properties properties = new Properties();
        try (InputStream in = DefaultPipelines.class.getResourceAsStream("default-pipelines.properties")) {
            if (in == null) {
                throw new IllegalStateException("default-pipelines.properties is missing from the host");
            }
            properties.load(in);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read default-pipelines.properties", e);
        }
        return properties;
    }
}
