package io.modelrefinery.testkit;

import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.plugin.ModelArtifact;

import java.util.List;
import java.util.Map;

/**
 * What a {@link PluginHarness} run made.
 *
 * @param output the last step's model
 * @param steps what each step did (parameters with defaults, metrics, notes), in order
 * @param reference the model the output is evaluated against: the input when ONNX, otherwise the first ONNX
 *     model the pipeline made (a converter's output); {@code null} when there is none
 */
public record HarnessResult(ModelArtifact output, List<StepRecord> steps, OnnxModel reference) {
    public HarnessResult {
        steps = List.copyOf(steps);
    }

    /** The output as an ONNX model; fails when the last step wrote another format. */
    public OnnxModel model() {
        return output.onnxModel();
    }

    /** Step {@code index}, from 0. */
    public StepRecord step(int index) {
        return steps.get(index);
    }

    /** The first step's metrics: the whole story of a one-step pipeline. */
    public Map<String, Double> metrics() {
        return step(0).metrics();
    }

    /** The first step's notes. */
    public List<String> notes() {
        return step(0).notes();
    }
}
