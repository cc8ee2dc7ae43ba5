package io.modelrefinery.plugin.tflite;

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
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.StandardOpenOption;

/**
 * {@code tflite-to-onnx}: converts a TensorFlow Lite model, float or quantized (int8, uint8, int16 activations
 * with int8 weights), into ONNX with the same inputs and outputs (shapes, and types: an int8 model keeps int8
 * inputs and outputs).
 */
@Component(service = ModelTransform.class)
public final class TfliteToOnnxTransform implements ModelTransform {
    private static final TransformDescriptor DESCRIPTOR = TransformDescriptor.builder("tflite-to-onnx")
            .version("1.0.1")
            .kind(TransformKind.CONVERTER)
            .accepts(ModelFormat.TFLITE)
            .produces(ModelFormat.ONNX)
            .summary("Converts a TensorFlow Lite model (float or quantized: int8, uint8, int16x8; quantized tensors "
                    + "keep their rounding as QDQ pairs) to ONNX, inputs and outputs unchanged.")
            .build();

    @Override
    public TransformDescriptor descriptor() {
        return DESCRIPTOR;
    }

    @Override
    public TransformResult apply(TransformContext context, ModelArtifact input, Params params) {
        if (!(input instanceof FileArtifact file)) {
            throw new InvalidInputException("tflite-to-onnx reads a TFLite file, not an in-memory " + input.format()
                    + " model");
        }
        ByteBuffer bytes;
        try (FileChannel channel = FileChannel.open(file.path(), StandardOpenOption.READ)) {
            if (channel.size() >= Integer.MAX_VALUE) {
                throw new InvalidInputException(file.path().getFileName() + " is larger than 2 GB, which is not "
                        + "supported");
            }
            bytes = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size()).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new TransformException("cannot read " + file.path() + ": " + e.getMessage(), false, e);
        }
        if (bytes.remaining() < 8 || bytes.get(4) != 'T' || bytes.get(5) != 'F' || bytes.get(6) != 'L'
                || bytes.get(7) != '3') {
            throw new InvalidInputException("not a TFLite model: " + file.path().getFileName()
                    + " lacks the TFL3 file identifier");
        }
        TfliteConverter.Result result;
        try {
            result = TfliteConverter.convert(bytes, context.cancellation());
        } catch (IndexOutOfBoundsException | IllegalArgumentException e) {
            throw new InvalidInputException("not a readable TFLite model: " + file.path().getFileName()
                    + " (its flatbuffer points outside the file)", e);
        }
        return TransformResult.of(result.model())
                .withMetric("operators", result.operators())
                .withMetric("quantized-tensors", result.quantizedTensors())
                .withMetric("nodes", result.model().graph().getNodeCount())
                .withMetric("layout-changes", result.layoutChanges());
    }
}
