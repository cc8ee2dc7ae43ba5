package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.plugin.ModelFormat;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Infers a model file's format from its content, then its extension: HDF5 and zip files are Keras,
 * files with the TFLite flatbuffer identifier are TensorFlow Lite, everything else is tried as ONNX.
 */
public final class FormatDetector {
    private FormatDetector() {
    }

    public static ModelFormat detect(Path file) throws IOException {
        byte[] head;
        try (InputStream in = Files.newInputStream(file)) {
            head = in.readNBytes(8);
        }
        if (head.length >= 8 && (head[0] & 0xff) == 0x89 && head[1] == 'H' && head[2] == 'D' && head[3] == 'F') {
            return ModelFormat.KERAS;
        }
        if (head.length >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
            return ModelFormat.KERAS; // a Keras 3 .keras archive
        }
        if (head.length >= 8 && head[4] == 'T' && head[5] == 'F' && head[6] == 'L' && head[7] == '3') {
            return ModelFormat.TFLITE;
        }
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".keras") || name.endsWith(".h5") || name.endsWith(".hdf5")) {
            return ModelFormat.KERAS;
        }
        if (name.endsWith(".tflite")) {
            return ModelFormat.TFLITE;
        }
        return ModelFormat.ONNX;
    }
}
