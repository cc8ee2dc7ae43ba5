package io.modelrefinery.testkit;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.SaveOptions;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.host.pipeline.JobData;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * One input the conformance checks run a transform on: a model (ONNX, or a file in another format for a
 * converter), the parameters as a pipeline would write them, and the datasets the job would bring.
 * Immutable; {@code with...} methods return a new case.
 */
public final class ConformanceCase {
    private final String name;
    private final ModelFormat format;
    private final OnnxModel onnx;
    private final Path file;
    private final Map<String, String> params;
    private final Map<DataRole, Path> data;

    private ConformanceCase(String name, ModelFormat format, OnnxModel onnx, Path file, Map<String, String> params,
                            Map<DataRole, Path> data) {
        this.name = Objects.requireNonNull(name, "name");
        this.format = format;
        this.onnx = onnx;
        this.file = file;
        this.params = Map.copyOf(params);
        this.data = data.isEmpty() ? Map.of() : new EnumMap<>(data);
    }

    /** An ONNX model, with the transform's default parameters. */
    public static ConformanceCase onnx(String name, OnnxModel model) {
        return new ConformanceCase(name, ModelFormat.ONNX, Objects.requireNonNull(model, "model"), null, Map.of(), Map.of());
    }

    /** A model file in {@code format}, for a converter; the checks work on copies of it. */
    public static ConformanceCase file(String name, Path file, ModelFormat format) {
        return new ConformanceCase(name, Objects.requireNonNull(format, "format"), null, Objects.requireNonNull(file, "file"),
                Map.of(), Map.of());
    }

    /** This case with parameters, written as in a pipeline: {@code Map.of("bits", "8")}. */
    public ConformanceCase withParams(Map<String, String> raw) {
        return new ConformanceCase(name, format, onnx, file, raw, data);
    }

    /** This case with a dataset ({@code .npz}, or {@code .npy} named after the model's first input). */
    public ConformanceCase withData(DataRole role, Path dataset) {
        Map<DataRole, Path> next = new LinkedHashMap<>(data);
        next.put(role, Objects.requireNonNull(dataset, "dataset"));
        return new ConformanceCase(name, format, onnx, file, params, next);
    }

    public String name() {
        return name;
    }

    public ModelFormat format() {
        return format;
    }

    public Map<String, String> params() {
        return params;
    }

    boolean has(DataRole role) {
        return data.containsKey(role);
    }

    /**
     * Writes the input into {@code folder} as a job's fetched input would be (an ONNX model with its larger
     * tensors in an external-data side file) and loads it from there.
     */
    ModelArtifact materialize(Path folder) throws IOException {
        Files.createDirectories(folder);
        if (onnx != null) {
            Path model = folder.resolve("model.onnx");
            if (!Files.exists(model)) {
                onnx.save(model, SaveOptions.external());
            }
            return ModelArtifact.onnx(OnnxModel.load(model));
        }
        Path copy = folder.resolve(file.getFileName().toString());
        if (!Files.exists(copy)) {
            Files.copy(file, copy);
        }
        return ModelArtifact.file(copy, format);
    }

    /** The job's datasets; each check opens its own readers. */
    JobData jobData() {
        String npyName = onnx != null && onnx.graph().getInputCount() > 0 ? onnx.graph().getInput(0).getName() : "input";
        Map<DataRole, Dataset> byRole = new EnumMap<>(DataRole.class);
        data.forEach((role, path) -> byRole.put(role, Datasets.open(path, npyName)));
        return JobData.of(byRole);
    }

    @Override
    public String toString() {
        return name;
    }
}
