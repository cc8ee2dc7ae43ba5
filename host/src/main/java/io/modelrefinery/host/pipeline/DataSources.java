package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.event.ModelRegistered;
import io.modelrefinery.api.plugin.DataRole;

import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Where each {@link DataRole}'s samples come from: the one table from role to CLI option, event field
 * and job folder. Code that handles data loops over {@link #all()} instead of naming the roles, so that a
 * new role is one row here.
 */
public final class DataSources {
    /** The CLI options, as constants for picocli's annotations. */
    public static final String CALIBRATION_OPTION = "--calibration";
    public static final String EVALUATION_OPTION = "--eval";
    public static final String TRAINING_OPTION = "--train";

    /**
     * One role's sources.
     *
     * @param option the {@code optimize} option that gives the file
     * @param eventField the {@code model.registered} field that gives its URI
     * @param uri reads that field
     * @param folder the job folder its file is fetched into
     */
    public record Source(DataRole role, String option, String eventField, Function<ModelRegistered, String> uri,
                         String folder) {
    }

    private static final Map<DataRole, Source> TABLE = new EnumMap<>(Map.of(
            DataRole.CALIBRATION, new Source(DataRole.CALIBRATION, CALIBRATION_OPTION, "calibrationUri",
                    ModelRegistered::calibrationUri, "cal"),
            DataRole.EVALUATION, new Source(DataRole.EVALUATION, EVALUATION_OPTION, "evalUri",
                    ModelRegistered::evalUri, "eval"),
            DataRole.TRAINING, new Source(DataRole.TRAINING, TRAINING_OPTION, "trainUri",
                    ModelRegistered::trainUri, "train")));

    static {
        for (DataRole role : DataRole.values()) {
            if (!TABLE.containsKey(role)) {
                throw new IllegalStateException("no data source for role " + role);
            }
        }
    }

    private DataSources() {
    }

    public static Source of(DataRole role) {
        return TABLE.get(role);
    }

    /** Every role's sources, in the roles' order. */
    public static List<Source> all() {
        return List.copyOf(TABLE.values());
    }
}
