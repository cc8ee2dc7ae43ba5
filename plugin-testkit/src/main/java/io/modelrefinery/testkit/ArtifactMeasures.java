package io.modelrefinery.testkit;

import io.modelrefinery.api.event.ArtifactSummary;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.SaveOptions;
import io.modelrefinery.host.eval.ArtifactMeasurer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/** What the host reports about a saved model (bytes, zipped bytes, parameters, sparsity), for size claims in tests. */
public final class ArtifactMeasures {
    private ArtifactMeasures() {
    }

    /**
     * Saves {@code model} at {@code file} (weights inline) and measures it as the host measures a job's output.
     *
     * @param zipName the name the model gets inside the zip archive whose size is reported; the size depends on
     *     it, so compare two models under one name
     */
    public static ArtifactSummary measure(OnnxModel model, Path file, String zipName) {
        try {
            model.save(file, SaveOptions.inline());
            return ArtifactMeasurer.measure(file, model, zipName);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot save or measure " + file, e);
        }
    }
}
