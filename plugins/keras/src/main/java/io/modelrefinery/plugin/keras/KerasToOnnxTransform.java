package io.modelrefinery.plugin.keras;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.plugin.FileArtifact;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformContext;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformException;
import io.modelrefinery.api.plugin.TransformKind;
import io.modelrefinery.api.plugin.TransformResult;
import org.osgi.service.component.annotations.Component;

import java.io.IOException;

/**
 * {@code keras-to-onnx}: converts a Keras model, an HDF5 file ({@code .h5}) or a Keras 3 archive
 * ({@code .keras}), into ONNX. The ONNX model takes and returns tensors of the same shapes as the Keras
 * model (channels last), so callers feed it the same arrays.
 */
@Component(service = ModelTransform.class)
public final class KerasToOnnxTransform implements ModelTransform {
    private static final TransformDescriptor DESCRIPTOR = TransformDescriptor.builder("keras-to-onnx")
            .version("1.0.0")
            .kind(TransformKind.CONVERTER)
            .accepts(ModelFormat.KERAS)
            .produces(ModelFormat.ONNX)
            .summary("Converts a Keras model (.h5 or .keras, Sequential or functional) to ONNX, inputs and outputs "
                    + "unchanged.")
            .build();

    @Override
    public TransformDescriptor descriptor() {
        return DESCRIPTOR;
    }

    @Override
    public TransformResult apply(TransformContext context, ModelArtifact input, Params params) {
        if (!(input instanceof FileArtifact file)) {
            throw new InvalidInputException("keras-to-onnx reads a Keras file, not an in-memory " + input.format()
                    + " model");
        }
        KerasConverter.Result result;
        String written;
        int major;
        try (KerasFile keras = KerasFile.open(file.path(), context.scratchDirectory())) {
            result = KerasConverter.convert(keras, context.cancellation());
            major = keras.kerasMajor();
            written = "written by Keras " + (keras.kerasVersion() != null ? keras.kerasVersion()
                    : keras.kerasMajor() + " (no version recorded)") + (keras.isArchive() ? " (.keras archive)"
                    : " (HDF5" + (keras.backend() != null ? ", backend " + keras.backend() : "") + ")");
        } catch (IOException e) {
            throw new TransformException("cannot read " + file.path() + ": " + e.getMessage(), false, e);
        }
        return TransformResult.of(result.model())
                .withMetric("layers", result.layers())
                .withMetric("nodes", result.model().graph().getNodeCount())
                .withMetric("layout-changes", result.layoutChanges())
                .withMetric("keras-major-version", major)
                .withNote(written);
    }
}
