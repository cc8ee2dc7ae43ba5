package io.modelrefinery.host.service;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.StringJoiner;
import java.util.regex.Pattern;

/**
 * The registry settings the operator gave {@code serve} ({@code --mlflow-tracking-uri} and the like, or
 * their environment variables), by the names registry clients read them under
 * ({@code MLFLOW_TRACKING_URI}, {@code MLFLOW_TRACKING_TOKEN}, ...): what resolver and writer plugins
 * see through {@link io.modelrefinery.api.event.RegistryContext#setting}. A value may be given directly
 * or as a file, which is read again at each use so that a rotated secret is picked up. Printing the
 * settings masks secrets.
 */
public final class RegistrySettings {
    private static final String MASK = "[hidden]";
    private static final Pattern SECRET = Pattern.compile("(?i)token|password|secret|key");

    private final Map<String, String> values;
    private final Map<String, Path> files;

    private RegistrySettings(Map<String, String> values, Map<String, Path> files) {
        this.values = Map.copyOf(values);
        this.files = Map.copyOf(files);
    }

    /** No settings. */
    public static RegistrySettings none() {
        return new RegistrySettings(Map.of(), Map.of());
    }

    /** These settings and {@code name}; a blank value leaves {@code name} unset. */
    public RegistrySettings with(String name, String value) {
        if (value == null || value.isBlank()) {
            return this;
        }
        Map<String, String> more = new LinkedHashMap<>(values);
        more.put(name, value.strip());
        return new RegistrySettings(more, files);
    }

    /** These settings and {@code name}, read from {@code file} at each use. */
    public RegistrySettings withFile(String name, Path file) {
        if (file == null) {
            return this;
        }
        Map<String, Path> more = new LinkedHashMap<>(files);
        more.put(name, file);
        return new RegistrySettings(values, more);
    }

    /**
     * The value of {@code name}: a file's content stripped of surrounding white space, else the value given.
     *
     * @throws UncheckedIOException when the file cannot be read
     */
    public Optional<String> get(String name) {
        Path file = files.get(name);
        if (file != null) {
            try {
                String text = Files.readString(file, StandardCharsets.UTF_8).strip();
                return text.isEmpty() ? Optional.empty() : Optional.of(text);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the file of registry setting " + name + ": " + file, e);
            }
        }
        return Optional.ofNullable(values.get(name));
    }

    @Override
    public String toString() {
        StringJoiner out = new StringJoiner(", ", "{", "}");
        values.forEach((k, v) -> out.add(k + "=" + (SECRET.matcher(k).find() ? MASK : v)));
        files.forEach((k, v) -> out.add(k + "=file " + v));
        return out.toString();
    }
}
