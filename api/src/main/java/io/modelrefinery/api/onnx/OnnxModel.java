package io.modelrefinery.api.onnx;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import io.modelrefinery.api.AtomicFiles;
import io.modelrefinery.api.onnx.proto.Onnx.GraphProto;
import io.modelrefinery.api.onnx.proto.Onnx.ModelProto;
import io.modelrefinery.api.onnx.proto.Onnx.OperatorSetIdProto;
import io.modelrefinery.api.onnx.proto.Onnx.StringStringEntryProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * An ONNX model: an immutable {@link ModelProto} plus, for models loaded from a file, the external-data
 * side files its tensors refer to. Transforms never change a model; they build a new one with
 * {@link #withProto} or {@link #withGraph}, which keeps access to the same external data.
 *
 * <p>Loading then saving keeps every field, unknown ones included. External data is read from side
 * files only inside the model's folder and written to one side file on save when asked or needed.
 */
public final class OnnxModel {
    /** Protobuf cannot serialize a message of 2 GiB or more; keep a margin for everything but tensors. */
    static final long INLINE_LIMIT_BYTES = (1L << 31) - (64L << 20);
    private static final int PAGE = 4096;

    private final ModelProto proto;
    private final ExternalData external;

    private OnnxModel(ModelProto proto, ExternalData external) {
        this.proto = Objects.requireNonNull(proto, "proto");
        this.external = external;
    }

    /** A model held in memory only. Tensors it declares as external cannot be read. */
    public static OnnxModel of(ModelProto proto) {
        return new OnnxModel(proto, ExternalData.NONE);
    }

    /**
     * Reads an ONNX file and maps the external data its tensors refer to.
     *
     * @throws InvalidModelException if the file is missing, not an ONNX model, or refers to external data
     *     that is missing, too short or outside the model's folder
     * @throws IOException if reading fails
     */
    public static OnnxModel load(Path file) throws IOException {
        long size;
        try {
            size = Files.size(file);
        } catch (NoSuchFileException e) {
            throw new InvalidModelException("model file not found: " + file);
        }
        if (Files.isDirectory(file)) {
            throw new InvalidModelException("model path is a folder, not an ONNX file: " + file);
        }
        if (size >= Integer.MAX_VALUE) {
            throw new InvalidModelException("not a loadable ONNX model: " + file + " is " + size
                    + " bytes; ONNX files above 2 GiB must keep their weights as external data");
        }
        ModelProto proto = parse(Files.readAllBytes(file), file.toString());
        return new OnnxModel(proto, ExternalData.resolve(proto, file));
    }

    /** Parses a serialized model that has no external data. */
    public static OnnxModel parse(byte[] bytes) {
        return of(parse(bytes, "model bytes"));
    }

    private static ModelProto parse(byte[] bytes, String source) {
        ModelProto proto;
        try {
            CodedInputStream input = CodedInputStream.newInstance(bytes);
            input.setSizeLimit(Integer.MAX_VALUE);
            proto = ModelProto.parseFrom(input);
        } catch (IOException e) { // InvalidProtocolBufferException: the bytes are no protobuf message
            throw new InvalidModelException("not an ONNX model: " + source + " (" + firstLine(e.getMessage()) + ")", e);
        }
        if (proto.getIrVersion() <= 0 || !proto.hasGraph()) {
            throw new InvalidModelException("not an ONNX model: " + source + " (no "
                    + (proto.getIrVersion() <= 0 ? "IR version" : "graph") + ")");
        }
        return proto;
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "unreadable protobuf";
        }
        int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline);
    }

    // ---------------------------------------------------------------- access

    public ModelProto proto() {
        return proto;
    }

    public GraphProto graph() {
        return proto.getGraph();
    }

    /** A model with {@code newProto}, reading external data from the same side files as this one. */
    public OnnxModel withProto(ModelProto newProto) {
        return new OnnxModel(newProto, external);
    }

    /** A model with this one's metadata and opsets and {@code newGraph}. */
    public OnnxModel withGraph(GraphProto newGraph) {
        return withProto(proto.toBuilder().setGraph(newGraph).build());
    }

    /** The data of a tensor of this model, wherever it is stored. */
    public Tensor tensor(TensorProto tensor) {
        if (tensor.getDataLocation() != TensorProto.DataLocation.EXTERNAL) {
            return Tensor.fromProto(tensor);
        }
        String what = TensorStorage.describe(tensor);
        DataType type = DataType.require(tensor.getDataType(), what);
        long[] dims = TensorStorage.dims(tensor);
        Tensor.byteSize(type, dims, what);
        return Tensor.of(type, dims, external.bytes(tensor, what));
    }

    /** The main graph's initializer called {@code name}, with its data. */
    public Optional<Tensor> initializer(String name) {
        for (TensorProto init : graph().getInitializerList()) {
            if (init.getName().equals(name)) {
                return Optional.of(tensor(init));
            }
        }
        return Optional.empty();
    }

    /** The imported version of the default ONNX operator set, or 0 if none is imported. */
    public long opsetVersion() {
        return opsetVersion("");
    }

    /** The imported version of an operator set domain ({@code ""} and {@code ai.onnx} are the same), or 0. */
    public long opsetVersion(String domain) {
        String wanted = normalizeDomain(domain);
        for (OperatorSetIdProto opset : proto.getOpsetImportList()) {
            if (normalizeDomain(opset.getDomain()).equals(wanted)) {
                return opset.getVersion();
            }
        }
        return 0;
    }

    static String normalizeDomain(String domain) {
        return domain.equals("ai.onnx") ? "" : domain;
    }

    /** True if any tensor keeps its data in a side file. */
    public boolean hasExternalData() {
        boolean[] found = {false};
        ModelTensors.forEach(proto, (tensor, where) -> {
            if (tensor.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
                found[0] = true;
            }
        });
        return found[0];
    }

    /** Total size of all tensor data, inline and external, in raw layout. */
    public long tensorBytes() {
        long[] total = {0};
        ModelTensors.forEach(proto, (tensor, where) -> {
            if (tensor.getDataType() != DataType.STRING.code()) {
                total[0] += TensorStorage.expectedBytes(tensor, where);
            }
        });
        return total[0];
    }

    /** Number of weight values: elements of every initializer, sparse ones counted by stored values. */
    public long parameterCount() {
        long count = 0;
        for (TensorProto init : graph().getInitializerList()) {
            count += Tensor.elementCount(TensorStorage.dims(init), TensorStorage.describe(init));
        }
        for (var sparse : graph().getSparseInitializerList()) {
            count += Tensor.elementCount(TensorStorage.dims(sparse.getValues()), "sparse initializer");
        }
        return count;
    }

    /** This model with every external tensor's data moved into raw_data. */
    public OnnxModel inlined() {
        if (external.isEmpty()) {
            return this;
        }
        if (tensorBytes() > INLINE_LIMIT_BYTES) {
            throw new IllegalStateException("model has " + tensorBytes()
                    + " bytes of tensors, too many for one ONNX file; keep it external");
        }
        ModelProto inline = ModelTensors.rewrite(proto, (tensor, where) ->
                tensor.getDataLocation() == TensorProto.DataLocation.EXTERNAL ? inline(tensor) : tensor);
        return new OnnxModel(inline, ExternalData.NONE);
    }

    /**
     * A SHA-256 of the model, in hex: its serialization with each external tensor's reference left out, then
     * the data of those tensors in the order they appear. The same model stored in other side files has the
     * same hash. Nothing is copied (the serialization is streamed into the digest, external data read where it
     * is mapped), so a model of more than 2 GiB, which has no single serialization, has one too.
     */
    public String sha256() {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
        List<TensorProto> externals = new ArrayList<>();
        ModelProto described = ModelTensors.rewrite(proto, (tensor, where) -> {
            if (tensor.getDataLocation() != TensorProto.DataLocation.EXTERNAL) {
                return tensor;
            }
            externals.add(tensor);
            return TensorProto.newBuilder(tensor).clearExternalData().clearDataLocation().build();
        });
        try (OutputStream out = new DigestOutputStream(OutputStream.nullOutputStream(), digest)) {
            described.writeTo(out);
        } catch (IOException e) { // a stream that writes nowhere does not fail
            throw new UncheckedIOException(e);
        }
        for (TensorProto tensor : externals) {
            digest.update(tensor(tensor).data());
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    /** The serialized model with all data inline. */
    public byte[] toByteArray() {
        return inlined().proto.toByteArray();
    }

    // ---------------------------------------------------------------- saving

    /** Saves with {@link SaveOptions#auto()}. */
    public void save(Path file) throws IOException {
        save(file, SaveOptions.auto());
    }

    /**
     * Writes the model to {@code file}, and large tensors to a side file when the options ask for it or
     * the model cannot be one file. Both files appear whole or not at all; the side file is written first.
     */
    public void save(Path file, SaveOptions options) throws IOException {
        SaveOptions.Mode mode = options.mode();
        if (mode == SaveOptions.Mode.AUTO) {
            mode = hasExternalData() || tensorBytes() > INLINE_LIMIT_BYTES
                    ? SaveOptions.Mode.EXTERNAL : SaveOptions.Mode.INLINE;
        }
        if (mode == SaveOptions.Mode.INLINE) {
            AtomicFiles.write(file, toByteArray());
            return;
        }
        String location = options.location() != null ? options.location() : file.getFileName() + ".data";
        if (location.contains("/") || location.contains("\\") || location.equals("..") || location.equals(".")) {
            throw new IllegalArgumentException("external data location must be a plain file name: " + location);
        }
        Path side = file.toAbsolutePath().getParent().resolve(location);
        Path sideTemp = AtomicFiles.createTemp(side);
        try {
            ModelProto written;
            try (FileChannel channel = FileChannel.open(sideTemp, StandardOpenOption.WRITE)) {
                written = ModelTensors.rewrite(proto, (tensor, where) ->
                        place(tensor, channel, location, options.thresholdBytes()));
            } catch (UncheckedIOException e) {
                throw e.getCause();
            }
            AtomicFiles.commit(sideTemp, side);
            AtomicFiles.write(file, written.toByteArray());
        } finally {
            Files.deleteIfExists(sideTemp);
        }
    }

    private TensorProto place(TensorProto tensor, FileChannel side, String location, long threshold) {
        if (tensor.getDataType() == DataType.STRING.code()) {
            return tensor;
        }
        String what = TensorStorage.describe(tensor);
        long bytes = TensorStorage.expectedBytes(tensor, what);
        if (bytes < threshold) {
            return tensor.getDataLocation() == TensorProto.DataLocation.EXTERNAL ? inline(tensor) : tensor;
        }
        try {
            long offset = side.size();
            if (bytes >= PAGE && offset % PAGE != 0) { // page-aligned so that readers can map it
                offset += PAGE - offset % PAGE;
            }
            ByteBuffer data = tensor(tensor).data();
            long position = offset;
            while (data.hasRemaining()) {
                position += side.write(data, position);
            }
            return TensorProto.newBuilder(tensor)
                    .clearRawData().clearFloatData().clearInt32Data().clearInt64Data()
                    .clearDoubleData().clearUint64Data().clearExternalData()
                    .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                    .addExternalData(entry("location", location))
                    .addExternalData(entry("offset", Long.toString(offset)))
                    .addExternalData(entry("length", Long.toString(bytes)))
                    .build();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private TensorProto inline(TensorProto tensor) {
        return TensorProto.newBuilder(tensor)
                .clearExternalData()
                .clearDataLocation()
                .setRawData(ByteString.copyFrom(tensor(tensor).data()))
                .build();
    }

    private static StringStringEntryProto entry(String key, String value) {
        return StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
    }

    @Override
    public String toString() {
        GraphProto g = graph();
        return "OnnxModel[" + (g.getName().isEmpty() ? "graph" : g.getName()) + ", " + g.getNodeCount()
                + " nodes, opset " + opsetVersion() + "]";
    }
}
