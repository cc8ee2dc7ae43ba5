package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.plugin.DataRole;

import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;

/**
 * The datasets that come with a job, by role: from {@code --calibration}, {@code --eval} and
 * {@code --train}, or the event's URIs ({@link DataSources}). Each may be absent.
 */
public final class JobData {
    private static final JobData NONE = new JobData(Map.of());

    private final Map<DataRole, Dataset> byRole;

    private JobData(Map<DataRole, Dataset> byRole) {
        Map<DataRole, Dataset> copy = new EnumMap<>(DataRole.class);
        byRole.forEach((role, data) -> {
            if (data != null) {
                copy.put(role, data);
            }
        });
        this.byRole = Collections.unmodifiableMap(copy);
    }

    /** The datasets given, by role; a role mapped to {@code null} or missing has none. */
    public static JobData of(Map<DataRole, Dataset> byRole) {
        return new JobData(byRole);
    }

    /** Each argument may be {@code null}. */
    public JobData(Dataset calibration, Dataset evaluation, Dataset training) {
        this(nullable(calibration, evaluation, training));
    }

    private static Map<DataRole, Dataset> nullable(Dataset calibration, Dataset evaluation, Dataset training) {
        Map<DataRole, Dataset> out = new EnumMap<>(DataRole.class);
        out.put(DataRole.CALIBRATION, calibration);
        out.put(DataRole.EVALUATION, evaluation);
        out.put(DataRole.TRAINING, training);
        return out;
    }

    public static JobData none() {
        return NONE;
    }

    /** The samples in {@code role}, if the job has them. */
    public Optional<Dataset> get(DataRole role) {
        return Optional.ofNullable(byRole.get(role));
    }

    public Optional<Dataset> calibration() {
        return get(DataRole.CALIBRATION);
    }

    public Optional<Dataset> evaluation() {
        return get(DataRole.EVALUATION);
    }

    public Optional<Dataset> training() {
        return get(DataRole.TRAINING);
    }

    public boolean has(DataRole role) {
        return byRole.containsKey(role);
    }

    /** The {@code optimize} option that supplies {@code role}. */
    public static String optionFor(DataRole role) {
        return DataSources.of(role).option();
    }

    /** The {@code model.registered} field that supplies {@code role}. */
    public static String eventFieldFor(DataRole role) {
        return DataSources.of(role).eventField();
    }
}
