package io.modelrefinery.api.plugin;

import io.modelrefinery.api.onnx.OnnxModel;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What a transform returns: the new model, plus metrics (numbers such as {@code sparsity} or
 * {@code clipped-share}) and notes (sentences such as why nothing was quantized) for the step's report.
 * Immutable; {@code with...} methods return a new result.
 */
public final class TransformResult {
    private final ModelArtifact output;
    private final Map<String, Double> metrics;
    private final List<String> notes;

    private TransformResult(ModelArtifact output, Map<String, Double> metrics, List<String> notes) {
        this.output = Objects.requireNonNull(output, "output");
        this.metrics = Collections.unmodifiableMap(metrics);
        this.notes = Collections.unmodifiableList(notes);
    }

    public static TransformResult of(ModelArtifact output) {
        return new TransformResult(output, new LinkedHashMap<>(), new ArrayList<>());
    }

    public static TransformResult of(OnnxModel output) {
        return of(ModelArtifact.onnx(output));
    }

    public ModelArtifact output() {
        return output;
    }

    public Map<String, Double> metrics() {
        return metrics;
    }

    public List<String> notes() {
        return notes;
    }

    public TransformResult withMetric(String name, double value) {
        Map<String, Double> next = new LinkedHashMap<>(metrics);
        next.put(name, value);
        return new TransformResult(output, next, new ArrayList<>(notes));
    }

    public TransformResult withNote(String note) {
        List<String> next = new ArrayList<>(notes);
        next.add(note);
        return new TransformResult(output, new LinkedHashMap<>(metrics), next);
    }
}
