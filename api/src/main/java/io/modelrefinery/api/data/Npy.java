package io.modelrefinery.api.data;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.Tensor;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The NumPy {@code .npy} format (versions 1 to 3): header parsing with every field checked, and writing.
 * Only C-ordered arrays of numeric types are accepted; big-endian data is converted on read.
 */
public final class Npy {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final int MAX_HEADER = 1 << 16;
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([<>|=])([a-z])(\\d+)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");
    private static final Map<String, DataType> TYPES = Map.ofEntries(
            Map.entry("f2", DataType.FLOAT16), Map.entry("f4", DataType.FLOAT), Map.entry("f8", DataType.DOUBLE),
            Map.entry("i1", DataType.INT8), Map.entry("i2", DataType.INT16), Map.entry("i4", DataType.INT32),
            Map.entry("i8", DataType.INT64), Map.entry("u1", DataType.UINT8), Map.entry("u2", DataType.UINT16),
            Map.entry("u4", DataType.UINT32), Map.entry("u8", DataType.UINT64), Map.entry("b1", DataType.BOOL));

    private Npy() {
    }

    /**
     * A parsed header.
     *
     * @param type element type
     * @param shape full shape, sample dimension first
     * @param bigEndian whether the data must be byte-swapped
     * @param headerBytes bytes before the data
     */
    public record Header(DataType type, long[] shape, boolean bigEndian, int headerBytes) {
        /** Bytes of the data that follows the header. */
        public long dataBytes() {
            long count = 1;
            for (long d : shape) {
                count = Math.multiplyExact(count, d);
            }
            return Math.multiplyExact(count, type.bits() / 8);
        }
    }

    /**
     * Reads and checks the header at the start of {@code in}, leaving the stream at the first data byte.
     *
     * @param source names the file or entry in error messages
     */
    public static Header readHeader(InputStream in, String source) throws IOException {
        byte[] prefix = in.readNBytes(8);
        if (prefix.length < 8 || !startsWithMagic(prefix)) {
            throw new InvalidDataException(source + " is not a .npy array (bad magic)");
        }
        int major = prefix[6];
        int lengthBytes = major == 1 ? 2 : 4;
        if (major < 1 || major > 3) {
            throw new InvalidDataException(source + " has unsupported .npy version " + major);
        }
        byte[] lengthField = in.readNBytes(lengthBytes);
        if (lengthField.length < lengthBytes) {
            throw new InvalidDataException(source + " is truncated in its .npy header");
        }
        ByteBuffer lb = ByteBuffer.wrap(lengthField).order(ByteOrder.LITTLE_ENDIAN);
        long headerLength = major == 1 ? lb.getShort() & 0xffff : lb.getInt() & 0xffffffffL;
        if (headerLength > MAX_HEADER) {
            throw new InvalidDataException(source + " has a .npy header of " + headerLength + " bytes, more than "
                    + MAX_HEADER);
        }
        byte[] headerText = in.readNBytes((int) headerLength);
        if (headerText.length < headerLength) {
            throw new InvalidDataException(source + " is truncated in its .npy header");
        }
        String header = new String(headerText, major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        Header parsed = parseHeader(header, source, 8 + lengthBytes + (int) headerLength);
        try {
            parsed.dataBytes();
        } catch (ArithmeticException e) {
            throw new InvalidDataException(source + " declares a shape too large to exist");
        }
        return parsed;
    }

    private static boolean startsWithMagic(byte[] prefix) {
        for (int i = 0; i < MAGIC.length; i++) {
            if (prefix[i] != MAGIC[i]) {
                return false;
            }
        }
        return true;
    }

    private static Header parseHeader(String header, String source, int headerBytes) {
        Matcher descr = DESCR.matcher(header);
        Matcher fortran = FORTRAN.matcher(header);
        Matcher shape = SHAPE.matcher(header);
        if (!descr.find() || !fortran.find() || !shape.find()) {
            throw new InvalidDataException(source + " has a .npy header without a numeric 'descr', 'fortran_order' "
                    + "or 'shape': " + header.trim());
        }
        String code = descr.group(2) + descr.group(3);
        DataType type = TYPES.get(code);
        if (type == null) {
            throw new InvalidDataException(source + " has dtype '" + descr.group(1) + code
                    + "', which is not a supported numeric type");
        }
        if (fortran.group(1).equals("True")) {
            throw new InvalidDataException(source + " is Fortran-ordered; save it C-ordered (numpy.ascontiguousarray)");
        }
        List<Long> dims = new ArrayList<>();
        for (String part : shape.group(1).split(",")) {
            String d = part.trim();
            if (d.isEmpty()) {
                continue;
            }
            try {
                long value = Long.parseLong(d.endsWith("L") ? d.substring(0, d.length() - 1) : d);
                if (value < 0) {
                    throw new NumberFormatException();
                }
                dims.add(value);
            } catch (NumberFormatException e) {
                throw new InvalidDataException(source + " has an invalid dimension '" + d + "' in its shape");
            }
        }
        long[] shapeArray = dims.stream().mapToLong(Long::longValue).toArray();
        boolean bigEndian = descr.group(1).equals(">") && type.bits() > 8;
        return new Header(type, shapeArray, bigEndian, headerBytes);
    }

    /** Swaps each element of {@code bytes} from big- to little-endian, in place. */
    static void swapToLittleEndian(byte[] bytes, int width) {
        for (int i = 0; i + width <= bytes.length; i += width) {
            for (int a = i, b = i + width - 1; a < b; a++, b--) {
                byte t = bytes[a];
                bytes[a] = bytes[b];
                bytes[b] = t;
            }
        }
    }

    /** Writes {@code tensor} as a version 1 .npy array. */
    public static void write(OutputStream out, Tensor tensor) throws IOException {
        writeHeader(out, tensor.type(), tensor.shape());
        out.write(tensor.toByteArray());
    }

    /**
     * Writes the header of a version 1 .npy array; the caller then writes the data, little-endian, in
     * row-major order. Lets arrays larger than memory be written sample by sample.
     */
    public static void writeHeader(OutputStream out, DataType type, long[] shape) throws IOException {
        String code = null;
        for (Map.Entry<String, DataType> e : TYPES.entrySet()) {
            if (e.getValue() == type) {
                code = e.getKey();
            }
        }
        if (code == null) {
            throw new IllegalArgumentException(type + " has no NumPy dtype");
        }
        StringBuilder dims = new StringBuilder();
        for (long d : shape) {
            dims.append(d).append(", ");
        }
        if (shape.length > 1) {
            dims.setLength(dims.length() - 2);
        } else if (shape.length == 1) {
            dims.setLength(dims.length() - 1);
        }
        String dict = "{'descr': '" + (type.bits() == 8 ? "|" : "<") + code
                + "', 'fortran_order': False, 'shape': (" + dims + "), }";
        int unpadded = MAGIC.length + 2 + 2 + dict.length() + 1;
        int padding = (64 - unpadded % 64) % 64;
        String header = dict + " ".repeat(padding) + "\n";
        out.write(MAGIC);
        out.write(new byte[] {1, 0});
        out.write(header.length() & 0xff);
        out.write((header.length() >>> 8) & 0xff);
        out.write(header.getBytes(StandardCharsets.ISO_8859_1));
    }
}
