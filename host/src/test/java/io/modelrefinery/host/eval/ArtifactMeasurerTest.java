package io.modelrefinery.host.eval;

import io.modelrefinery.api.event.ArtifactSummary;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.host.testing.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
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

    @Test
    void sparsityOfQuantizedWeightsCountsTheirZeroPoint() {
        // w [2,3] as uint8 with zero point 128 behind a DequantizeLinear: the 128s are the zeros
        OnnxModel model = OnnxModel.of(OnnxHelper.model(OnnxHelper.graph(
                "dq", List.of(OnnxHelper.node("DequantizeLinear",
                        List.of("w_q", "w_scale", "w_zero"), List.of("w")),
                        OnnxHelper.node("MatMul", List.of("x", "w"), List.of("y"))),
                List.of(OnnxHelper.valueInfo("x", DataType.FLOAT, -1, 2)),
                List.of(OnnxHelper.valueInfo("y", DataType.FLOAT, -1, 3)),
                List.of(Tensor.of(DataType.UINT8, new long[] {2, 3}, new byte[] {(byte) 128, 3, (byte) 128,
                                (byte) 128, 0, (byte) 200}).toProto("w_q"),
                        Tensor.scalar(0.5f).toProto("w_scale"),
                        Tensor.of(DataType.UINT8, new long[] {}, new byte[] {(byte) 128}).toProto("w_zero"))), 17));

        assertEquals(3.0 / 6, ArtifactMeasurer.sparsity(model), 1e-12);
    }

    @Test
    void sparsityOfPerColumnZeroPointsOfAnIntegerMatMul() {
        // B [2,2] int8 with one zero point per column (MatMulInteger's b_zero_point): column 0's is 5, column 1's -1
        OnnxModel model = OnnxModel.of(OnnxHelper.model(OnnxHelper.graph(
                "mmi", List.of(OnnxHelper.node("MatMulInteger",
                        List.of("x", "b", "", "b_zero"), List.of("y"))),
                List.of(OnnxHelper.valueInfo("x", DataType.INT8, -1, 2)),
                List.of(OnnxHelper.valueInfo("y", DataType.INT32, -1, 2)),
                List.of(Tensor.of(DataType.INT8, new long[] {2, 2}, new byte[] {5, -1, 0, 0}).toProto("b"),
                        Tensor.of(DataType.INT8, new long[] {2}, new byte[] {5, -1}).toProto("b_zero"))), 17));

        assertEquals(2.0 / 4, ArtifactMeasurer.sparsity(model), 1e-12);
    }
}
