package io.modelrefinery.host.eval;

import io.modelrefinery.api.event.ArtifactSummary;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ArtifactMeasurerTest {
    @TempDir
    Path dir;

    @Test
    void measuresTheSampleModelAsTheReferenceToolDid() throws Exception {
        ArtifactSummary summary = ArtifactMeasurer.measure(TestModels.sampleCnnFile(), TestModels.sampleCnn(),
                "seed_cnn_binary.onnx");

        // Reference figures from the fixture's README: Python's zipfile, ZIP_DEFLATED, default level.
        assertEquals(14_760, summary.bytes());
        assertEquals(13_251, summary.gzipBytes());
        assertEquals(3_337, summary.params());
        assertEquals(0.0, summary.sparsity());
        assertEquals("9d8d10ee6c94b535f579c2afa988dba6b1629fd220e8b49c818e454eea1051ec", summary.sha256());
    }

    @Test
    void computedZipSizeEqualsARealArchiveWithoutDataDescriptors() throws Exception {
        Path model = TestModels.sampleCnnFile();
        Path zip = dir.resolve("m.zip");
        // java.util.zip writes a 16-byte data descriptor after deflated data; Python's zipfile does not.
        try (java.util.zip.ZipOutputStream out = new java.util.zip.ZipOutputStream(Files.newOutputStream(zip))) {
            out.putNextEntry(new ZipEntry(model.getFileName().toString()));
            Files.copy(model, out);
            out.closeEntry();
        }
        try (ZipFile file = new ZipFile(zip.toFile())) {
            assertEquals(Files.size(model), file.getEntry(model.getFileName().toString()).getSize());
        }

        assertEquals(Files.size(zip) - 16, ArtifactMeasurer.zippedSize(model));
    }

    @Test
    void zipSizeDependsOnTheEntryNameOnly() throws Exception {
        Path copy = Files.copy(TestModels.sampleCnnFile(), dir.resolve("a-much-longer-file-name.onnx"));

        ArtifactSummary summary = ArtifactMeasurer.measure(copy, TestModels.sampleCnn(), "seed_cnn_binary.onnx");

        assertEquals(13_251, summary.gzipBytes());
    }

    @Test
    void sparsityCountsExactZerosOfWeightsOnly() throws Exception {
        OnnxModel mlp = TestModels.mlp();
        // w [4,3] holds (i - 6) * 0.25: exactly one zero of twelve; the bias b is not a weight matrix.
        assertEquals(1.0 / 12, ArtifactMeasurer.sparsity(mlp), 1e-12);

        OnnxModel zeroed = mlp.withGraph(mlp.graph().toBuilder()
                .setInitializer(0, Tensor.fromDoubles(DataType.FLOAT, new long[] {4, 3}, new double[12]).toProto("w"))
                .build());
        assertEquals(1.0, ArtifactMeasurer.sparsity(zeroed));
    }
}
