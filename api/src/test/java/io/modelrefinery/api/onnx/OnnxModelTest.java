package io.modelrefinery.api.onnx;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnknownFieldSet;
import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.ModelProto;
import io.modelrefinery.api.onnx.proto.Onnx.StringStringEntryProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;
import static io.modelrefinery.api.onnx.OnnxHelper.node;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OnnxModelTest {
    @TempDir
    Path dir;

    /** A model whose tensors use every storage form ONNX has, plus metadata and an unknown field. */
    private static ModelProto everyStorageForm() {
        GraphProto.Builder g = TestModels.mlp().getGraph().toBuilder();
        g.addInitializer(TensorProto.newBuilder().setName("typed_float").setDataType(1).addDims(2)
                .addFloatData(1f).addFloatData(2f));
        g.addInitializer(TensorProto.newBuilder().setName("typed_int8").setDataType(3).addDims(2)
                .addInt32Data(-3).addInt32Data(4));
        g.addInitializer(TensorProto.newBuilder().setName("typed_half").setDataType(10).addDims(1).addInt32Data(0x3c00));
        g.addInitializer(TensorProto.newBuilder().setName("typed_bool").setDataType(9).addDims(2)
                .addInt32Data(1).addInt32Data(0));
        g.addInitializer(TensorProto.newBuilder().setName("typed_int64").setDataType(7).addDims(1).addInt64Data(-9));
        g.addInitializer(TensorProto.newBuilder().setName("typed_double").setDataType(11).addDims(1).addDoubleData(0.1));
        g.addInitializer(TensorProto.newBuilder().setName("typed_uint64").setDataType(13).addDims(1)
                .addUint64Data(-1L));
        g.addInitializer(TensorProto.newBuilder().setName("typed_string").setDataType(8).addDims(1)
                .addStringData(ByteString.copyFromUtf8("hello")));
        g.addInitializer(Tensor.fromDoubles(DataType.INT4, new long[] {3}, new double[] {1, -2, 3}).toProto("raw_int4"));
        g.addInitializer(Tensor.fromDoubles(DataType.BFLOAT16, new long[] {2}, new double[] {1, -1}).toProto("raw_bf16"));
        g.addNode(node("Constant", List.of(), List.of("const_out"),
                attr("value", Tensor.ofLongs(new long[] {2}, 7, 8).toProto("const_value"))));
        return TestModels.mlp().toBuilder()
                .setGraph(g)
                .setDocString("doc")
                .addMetadataProps(StringStringEntryProto.newBuilder().setKey("author").setValue("tests"))
                .setUnknownFields(UnknownFieldSet.newBuilder()
                        .addField(999, UnknownFieldSet.Field.newBuilder().addVarint(12345).build()).build())
                .build();
    }

    @Test
    void loadSaveRoundTripKeepsEveryFieldAndStorageForm() throws IOException {
        ModelProto original = everyStorageForm();
        Path file = dir.resolve("m.onnx");
        Files.write(file, original.toByteArray());

        OnnxModel loaded = OnnxModel.load(file);
        Path copy = dir.resolve("copy.onnx");
        loaded.save(copy);

        assertEquals(original, loaded.proto());
        assertArrayEquals(original.toByteArray(), Files.readAllBytes(copy));
        assertEquals(12345L, OnnxModel.load(copy).proto().getUnknownFields().getField(999).getVarintList().get(0));
        assertFalse(Files.exists(dir.resolve("copy.onnx.data")));
    }

    @Test
    void externalDataRoundTripsInBothDirections() throws IOException {
        ModelProto original = everyStorageForm();
        OnnxModel model = OnnxModel.of(original);
        Path file = dir.resolve("ext.onnx");

        model.save(file, SaveOptions.external().withThreshold(8));
        OnnxModel loaded = OnnxModel.load(file);

        assertTrue(Files.exists(dir.resolve("ext.onnx.data")));
        assertTrue(loaded.hasExternalData());
        TensorProto w = loaded.graph().getInitializerList().stream()
                .filter(t -> t.getName().equals("w")).findFirst().orElseThrow();
        assertEquals(TensorProto.DataLocation.EXTERNAL, w.getDataLocation());
        assertFalse(w.hasRawData());
        for (TensorProto init : original.getGraph().getInitializerList()) {
            assertEquals(Tensor.fromProto(init), loaded.initializer(init.getName()).orElseThrow(), init.getName());
        }
        // Back to one file: identical tensors and non-tensor fields.
        Path inline = dir.resolve("inline.onnx");
        loaded.save(inline, SaveOptions.inline());
        OnnxModel reloaded = OnnxModel.load(inline);
        assertFalse(reloaded.hasExternalData());
        assertEquals(original.getMetadataPropsList(), reloaded.proto().getMetadataPropsList());
        assertEquals(original.getGraph().getNodeList(), reloaded.graph().getNodeList());
        for (TensorProto init : original.getGraph().getInitializerList()) {
            assertEquals(Tensor.fromProto(init), reloaded.initializer(init.getName()).orElseThrow(), init.getName());
        }
    }

    @Test
    void externalModelSavedElsewhereCarriesItsDataAlong() throws IOException {
        Path file = dir.resolve("a/model.onnx");
        Files.createDirectories(file.getParent());
        OnnxModel.of(TestModels.mlp()).save(file, SaveOptions.external().withThreshold(0));
        OnnxModel loaded = OnnxModel.load(file);

        Path elsewhere = dir.resolve("b/out.onnx");
        loaded.save(elsewhere);

        OnnxModel moved = OnnxModel.load(elsewhere);
        assertTrue(Files.exists(dir.resolve("b/out.onnx.data")), "AUTO keeps external models external");
        assertEquals(loaded.initializer("w").orElseThrow(), moved.initializer("w").orElseThrow());
    }

    private Path modelWithExternalLocation(String location) throws IOException {
        TensorProto external = TensorProto.newBuilder().setName("w").setDataType(1).addDims(4).addDims(3)
                .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                .addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue(location))
                .build();
        ModelProto proto = TestModels.mlp();
        ModelProto withExternal = proto.toBuilder().setGraph(proto.getGraph().toBuilder().setInitializer(0, external))
                .build();
        Path file = dir.resolve("models/m.onnx");
        Files.createDirectories(file.getParent());
        Files.write(file, withExternal.toByteArray());
        return file;
    }

    @ParameterizedTest
    @ValueSource(strings = {"/etc/passwd", "../secret.bin", "sub/../../secret.bin", "..\\secret.bin", "C:secret"})
    void refusesExternalLocationsOutsideTheModelFolder(String location) throws IOException {
        Files.write(dir.resolve("secret.bin"), new byte[48]);
        Path file = modelWithExternalLocation(location);

        InvalidModelException e = assertThrows(InvalidModelException.class, () -> OnnxModel.load(file));

        assertTrue(e.getMessage().startsWith("initializer 'w': external data location '" + location + "'"),
                e.getMessage());
    }

    @Test
    void refusesExternalDataThroughASymlink() throws IOException {
        Files.write(dir.resolve("secret.bin"), new byte[48]);
        Path file = modelWithExternalLocation("link.bin");
        Files.createSymbolicLink(file.getParent().resolve("link.bin"), dir.resolve("secret.bin"));

        InvalidModelException e = assertThrows(InvalidModelException.class, () -> OnnxModel.load(file));

        assertTrue(e.getMessage().contains("symbolic link"), e.getMessage());
    }

    @Test
    void reportsMissingAndShortExternalFiles() throws IOException {
        Path file = modelWithExternalLocation("weights.bin");

        InvalidModelException missing = assertThrows(InvalidModelException.class, () -> OnnxModel.load(file));
        Files.write(file.getParent().resolve("weights.bin"), new byte[40]);
        InvalidModelException tooShort = assertThrows(InvalidModelException.class, () -> OnnxModel.load(file));

        assertTrue(missing.getMessage().contains("external data file 'weights.bin' is missing"), missing.getMessage());
        assertTrue(tooShort.getMessage().contains("has 40 bytes, too few for 48 bytes"), tooShort.getMessage());
    }

    @Test
    void refusesFilesThatAreNotOnnx() throws IOException {
        Path text = dir.resolve("notes.onnx");
        Files.writeString(text, "this is not a model\n");
        Path truncated = dir.resolve("truncated.onnx");
        byte[] full = TestModels.mlp().toByteArray();
        Files.write(truncated, java.util.Arrays.copyOf(full, full.length / 2));

        assertTrue(assertThrows(InvalidModelException.class, () -> OnnxModel.load(text)).getMessage()
                .startsWith("not an ONNX model: " + text));
        assertTrue(assertThrows(InvalidModelException.class, () -> OnnxModel.load(truncated)).getMessage()
                .startsWith("not an ONNX model: " + truncated));
        assertEquals("model file not found: " + dir.resolve("none.onnx"),
                assertThrows(InvalidModelException.class, () -> OnnxModel.load(dir.resolve("none.onnx"))).getMessage());
    }

    @Test
    void countsParametersAndReadsOpset() {
        OnnxModel model = OnnxModel.of(TestModels.mlp());
        assertEquals(15, model.parameterCount());
        assertEquals(17, model.opsetVersion());
        assertEquals(17, model.opsetVersion("ai.onnx"));
        assertEquals(0, model.opsetVersion("com.microsoft"));
    }

    @Test
    void theHashIsOfWhatTheModelHoldsNotWhereItIsStored() throws IOException {
        OnnxModel inMemory = OnnxModel.of(TestModels.mlp());
        Path a = dir.resolve("a.onnx");
        Path b = dir.resolve("b.onnx");
        inMemory.save(a, SaveOptions.external().withThreshold(0));
        inMemory.save(b, SaveOptions.external().withThreshold(0));
        OnnxModel first = OnnxModel.load(a);
        assertEquals(first.sha256(), OnnxModel.load(b).sha256(), "side files a.onnx.data and b.onnx.data");
        assertEquals(64, first.sha256().length());

        // one weight byte changed in the side file: another model
        try (FileChannel side = FileChannel.open(dir.resolve("b.onnx.data"), StandardOpenOption.WRITE)) {
            side.write(ByteBuffer.wrap(new byte[] {42}), 0);
        }
        assertNotEquals(first.sha256(), OnnxModel.load(b).sha256());
        assertNotEquals(inMemory.sha256(), OnnxModel.of(TestModels.mlp().toBuilder().setDocString("x").build()).sha256());
    }

    /** The weights of a model above 2 GiB cannot be inlined; its hash reads them where they lie. */
    @Test
    void aModelOfMoreThanTwoGibHasAHash() throws IOException {
        // Enough 1 MiB tensors to pass the limit, all stored at the same place: one small side file, mapped once.
        int mib = 1 << 20;
        long tensors = OnnxModel.INLINE_LIMIT_BYTES / mib + 1;
        byte[] weights = new byte[mib];
        new java.util.Random(3).nextBytes(weights);
        Files.write(dir.resolve("shared.bin"), weights);
        GraphProto.Builder graph = TestModels.mlp().getGraph().toBuilder();
        for (int i = 0; i < tensors; i++) {
            graph.addInitializer(TensorProto.newBuilder().setName("big" + i).setDataType(1).addDims(mib / 4)
                    .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                    .addExternalData(StringStringEntryProto.newBuilder().setKey("location").setValue("shared.bin")));
        }
        Path file = dir.resolve("big.onnx");
        Files.write(file, TestModels.mlp().toBuilder().setGraph(graph).build().toByteArray());
        OnnxModel big = OnnxModel.load(file);
        assertThrows(IllegalStateException.class, big::inlined, "the premise: too large for one serialization");
        assertEquals(64, big.sha256().length());
    }
}
