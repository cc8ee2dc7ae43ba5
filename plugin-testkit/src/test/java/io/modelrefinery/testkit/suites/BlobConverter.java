package io.modelrefinery.testkit.suites;

import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformContext;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformException;
import io.modelrefinery.api.plugin.TransformKind;
import io.modelrefinery.api.plugin.TransformResult;
import io.modelrefinery.testkit.ConformanceModels;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;

/**
 * A converter from a made-up {@code blob} format (any file) to a fixed ONNX model; with {@code inPlace} it
 * also "repairs" its input file where it lies, which the input rule must catch.
 */
public final class BlobConverter implements ModelTransform {
    public static final ModelFormat BLOB = new ModelFormat("blob");

    private static final TransformDescriptor DESCRIPTOR = TransformDescriptor.builder("blob-to-onnx").version("1.0.0")
            .kind(TransformKind.CONVERTER).accepts(BLOB).produces(ModelFormat.ONNX)
            .summary("Converts a blob file to the tiny reference MLP.").build();

    private final boolean inPlace;

    public BlobConverter(boolean inPlace) {
        this.inPlace = inPlace;
    }

    @Override
    public TransformDescriptor descriptor() {
        return DESCRIPTOR;
    }

    @Override
    public TransformResult apply(TransformContext context, ModelArtifact input, Params params) {
        context.cancellation().throwIfCancelled();
        java.nio.file.Path file = ((io.modelrefinery.api.plugin.FileArtifact) input).path();
        try {
            byte[] header = Files.readAllBytes(file);
            if (inPlace && header.length > 0) {
                Files.write(file, new byte[] {'\n'}, StandardOpenOption.APPEND);
            }
        } catch (IOException e) {
            throw TransformException.fatal("cannot read " + file + ": " + e.getMessage());
        }
        return TransformResult.of(ConformanceModels.mlp());
    }
}
