package io.modelrefinery.api.onnx;

import io.modelrefinery.api.onnx.proto.Onnx.ModelProto;
import io.modelrefinery.api.onnx.proto.Onnx.StringStringEntryProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;

/**
 * The external-data side files of a loaded model, mapped read-only, keyed by the (location, offset,
 * length) a tensor declares. Locations are checked before any file is opened: relative, no {@code ..},
 * no symbolic links, inside the model's folder (the ONNX external-data path traversal CVEs).
 */
final class ExternalData {
    static final ExternalData NONE = new ExternalData(Map.of());

    /** Where a tensor's bytes are, as declared in its external_data entries; length -1 when not declared. */
    record Ref(String location, long offset, long length) {
        static Ref of(TensorProto tensor, String what) {
            String location = null;
            long offset = 0;
            long length = -1;
            for (StringStringEntryProto entry : tensor.getExternalDataList()) {
                switch (entry.getKey()) {
                    case "location":
                        location = entry.getValue();
                        break;
                    case "offset":
                        offset = parseNonNegative(entry.getValue(), "offset", what);
                        break;
                    case "length":
                        length = parseNonNegative(entry.getValue(), "length", what);
                        break;
                    default: // "checksum" and keys of later versions carry nothing we need
                }
            }
            if (location == null || location.isEmpty()) {
                throw new InvalidModelException(what + " is external but has no location");
            }
            return new Ref(location, offset, length);
        }

        private static long parseNonNegative(String value, String key, String what) {
            try {
                long parsed = Long.parseLong(value.trim());
                if (parsed >= 0) {
                    return parsed;
                }
            } catch (NumberFormatException e) {
                // reported below
            }
            throw new InvalidModelException(what + " has external data " + key + " '" + value
                    + "', not a non-negative integer");
        }
    }

    private final Map<Ref, ByteBuffer> buffers;

    private ExternalData(Map<Ref, ByteBuffer> buffers) {
        this.buffers = buffers;
    }

    boolean isEmpty() {
        return buffers.isEmpty();
    }

    /** The bytes of an external tensor of the model this was resolved for. */
    ByteBuffer bytes(TensorProto tensor, String what) {
        ByteBuffer buffer = buffers.get(Ref.of(tensor, what));
        if (buffer == null) {
            throw new InvalidModelException(what + " refers to external data '"
                    + Ref.of(tensor, what).location() + "' that was not loaded with this model");
        }
        return buffer.duplicate();
    }

    /** Maps every external tensor of {@code model}, which was read from {@code modelFile}. */
    static ExternalData resolve(ModelProto model, Path modelFile) {
        Path folder = modelFile.toAbsolutePath().getParent();
        Map<Ref, ByteBuffer> buffers = new HashMap<>();
        Map<Path, FileChannel> channels = new HashMap<>();
        try {
            ModelTensors.forEach(model, (tensor, where) -> {
                if (tensor.getDataLocation() != TensorProto.DataLocation.EXTERNAL) {
                    return;
                }
                Ref ref = Ref.of(tensor, where);
                long expected = TensorStorage.expectedBytes(tensor, where);
                if (ref.length() >= 0 && ref.length() != expected) {
                    throw new InvalidModelException(where + ": external data length is " + ref.length()
                            + " bytes, but its type and dims need " + expected);
                }
                if (buffers.containsKey(ref)) {
                    return;
                }
                Path file = locate(folder, ref.location(), where);
                try {
                    FileChannel channel = channels.get(file);
                    if (channel == null) {
                        channel = FileChannel.open(file, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
                        channels.put(file, channel);
                    }
                    long size = channel.size();
                    if (ref.offset() > size || expected > size - ref.offset()) {
                        throw new InvalidModelException(where + ": external data '" + ref.location() + "' has "
                                + size + " bytes, too few for " + expected + " bytes at offset " + ref.offset());
                    }
                    buffers.put(ref, channel.map(FileChannel.MapMode.READ_ONLY, ref.offset(), expected));
                } catch (IOException e) {
                    throw new InvalidModelException(where + ": cannot read external data '" + ref.location()
                            + "': " + e.getMessage(), e);
                }
            });
        } finally {
            for (FileChannel channel : channels.values()) {
                try {
                    channel.close(); // mappings stay valid after the channel closes
                } catch (IOException ignored) {
                    // nothing was written through it
                }
            }
        }
        return buffers.isEmpty() ? NONE : new ExternalData(buffers);
    }

    /**
     * Resolves an external-data location against the model's folder, refusing anything that could
     * read outside it.
     */
    static Path locate(Path folder, String location, String what) {
        String bad = null;
        if (location.indexOf('\0') >= 0) {
            bad = "contains a NUL character";
        } else if (location.startsWith("/") || location.startsWith("\\") || location.matches("^[A-Za-z]:.*")) {
            bad = "is absolute";
        } else {
            for (String part : location.split("[/\\\\]")) {
                if (part.equals("..")) {
                    bad = "contains '..'";
                    break;
                }
            }
        }
        if (bad != null) {
            throw new InvalidModelException(what + ": external data location '" + location + "' " + bad
                    + "; it must be a path inside the model's folder");
        }
        Path base = folder.normalize();
        Path file = base.resolve(location).normalize();
        if (!file.startsWith(base)) {
            throw new InvalidModelException(what + ": external data location '" + location
                    + "' leaves the model's folder");
        }
        try {
            for (Path p = file; p != null && !p.equals(base); p = p.getParent()) {
                if (Files.isSymbolicLink(p)) {
                    throw new InvalidModelException(what + ": external data location '" + location
                            + "' goes through a symbolic link, which is refused");
                }
            }
            Path real = file.toRealPath();
            if (!real.startsWith(base.toRealPath())) {
                throw new InvalidModelException(what + ": external data location '" + location
                        + "' leaves the model's folder");
            }
            if (!Files.isRegularFile(real, LinkOption.NOFOLLOW_LINKS)) {
                throw new InvalidModelException(what + ": external data location '" + location + "' is not a file");
            }
            return real;
        } catch (NoSuchFileException e) {
            throw new InvalidModelException(what + ": external data file '" + location + "' is missing from "
                    + base);
        } catch (IOException e) {
            throw new InvalidModelException(what + ": cannot read external data file '" + location + "': "
                    + e.getMessage(), e);
        }
    }
}
