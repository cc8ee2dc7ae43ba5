package io.modelrefinery.host.eval;

import io.modelrefinery.api.event.ArtifactSummary;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.OnnxHelper;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.NodeProto;
import io.modelrefinery.api.onnx.proto.Onnx.StringStringEntryProto;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;

/** Measures a saved model: digest, bytes, zipped bytes, parameters, sparsity. */
public final class ArtifactMeasurer {
    private static final int LOCAL_HEADER = 30;
    private static final int CENTRAL_HEADER = 46;
    private static final int END_OF_CENTRAL_DIRECTORY = 22;

    private ArtifactMeasurer() {
    }

    /**
     * Measures the model saved at {@code file}; {@code model} is its content (for parameter counts).
     *
     * @param zipName the name the model file gets inside the zip archive. The archive's size depends on
     *     it, so compare a model before and after under one name: the registered model's file name.
     */
    public static ArtifactSummary measure(Path file, OnnxModel model, String zipName) throws IOException {
        Map<Path, String> files = new LinkedHashMap<>();
        files.put(file, zipName);
        for (TensorProto init : model.graph().getInitializerList()) {
            for (StringStringEntryProto entry : init.getExternalDataList()) {
                if (entry.getKey().equals("location")) {
                    Path side = file.toAbsolutePath().getParent().resolve(entry.getValue());
                    files.put(side, zipName + ".data");
                }
            }
        }
        long bytes = 0;
        for (Path f : files.keySet()) {
            bytes += Files.size(f);
        }
        long opset = model.opsetVersion();
        return new ArtifactSummary(file.toAbsolutePath().toUri().toString(), sha256(file), bytes, zippedSize(files),
                model.parameterCount(), sparsity(model), opset > 0 ? Integer.valueOf((int) Math.min(Integer.MAX_VALUE, opset)) : null);
    }

    /** Hex SHA-256 of a file. */
    public static String sha256(Path file) throws IOException {
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), MessageDigest.getInstance("SHA-256"))) {
            in.transferTo(OutputStream.nullOutputStream());
            return HexFormat.of().formatHex(((DigestInputStream) in).getMessageDigest().digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }

    /** Size of {@code file} deflated into a one-entry zip archive, under its own name. */
    public static long zippedSize(Path file) throws IOException {
        return zippedSize(Map.of(file, file.getFileName().toString()));
    }

    /**
     * Size of a zip archive holding {@code files} (each under the name given), deflated at the default
     * level, exactly as Python's {@code zipfile} writes it to a file: local header, data and central
     * directory entry per file (no data descriptor, no extra fields), then the end record. Computed, not
     * written.
     */
    static long zippedSize(Map<Path, String> files) throws IOException {
        long total = END_OF_CENTRAL_DIRECTORY;
        byte[] buffer = new byte[1 << 16];
        for (Map.Entry<Path, String> file : files.entrySet()) {
            Path f = file.getKey();
            Deflater deflater = new Deflater(Deflater.DEFAULT_COMPRESSION, true);
            CountingOutputStream compressed = new CountingOutputStream();
            try (InputStream in = Files.newInputStream(f);
                 DeflaterOutputStream out = new DeflaterOutputStream(compressed, deflater, buffer.length)) {
                for (int n; (n = in.read(buffer)) > 0; ) {
                    out.write(buffer, 0, n);
                }
            } finally {
                deflater.end();
            }
            int nameLength = file.getValue().getBytes(StandardCharsets.UTF_8).length;
            total += LOCAL_HEADER + CENTRAL_HEADER + 2L * nameLength + compressed.count;
        }
        return total;
    }

    /**
     * Share of zero values among the weights: initializers of rank 2 and more. A quantized weight counts
     * as zero where it equals its zero point (the integer that dequantizes to 0), read from the node that
     * consumes it: DequantizeLinear, MatMulInteger, ConvInteger, QLinearConv or QLinearMatMul.
     */
    static double sparsity(OnnxModel model) {
        Map<String, ZeroPoint> zeroPoints = zeroPoints(model);
        long zeros = 0;
        long total = 0;
        for (TensorProto init : model.graph().getInitializerList()) {
            if (init.getDimsCount() < 2) {
                continue;
            }
            Tensor t = model.tensor(init);
            if (!t.type().isNumeric()) {
                continue;
            }
            ZeroPoint zp = zeroPoints.get(init.getName());
            long n = t.elementCount();
            if (zp == null) {
                for (long i = 0; i < n; i++) {
                    if (t.getDouble(i) == 0) {
                        zeros++;
                    }
                }
            } else {
                long[] shape = t.shape();
                int axis = zp.axis < 0 ? zp.axis + shape.length : zp.axis;
                long inner = 1;
                for (int d = axis + 1; d < shape.length; d++) {
                    inner *= shape[d];
                }
                boolean perAxis = zp.values.length > 1 && axis >= 0 && axis < shape.length
                        && shape[axis] == zp.values.length;
                for (long i = 0; i < n; i++) {
                    double zero = perAxis ? zp.values[(int) ((i / inner) % shape[axis])] : zp.values[0];
                    if (t.getDouble(i) == zero) {
                        zeros++;
                    }
                }
            }
            total += n;
        }
        return total == 0 ? 0 : (double) zeros / total;
    }

    /** The zero point of a quantized weight: one value, or one per index of {@code axis}. */
    private record ZeroPoint(double[] values, int axis) {
    }

    /** Quantized weight initializers and their zero points, from the nodes that dequantize them. */
    private static Map<String, ZeroPoint> zeroPoints(OnnxModel model) {
        Map<String, TensorProto> initializers = new HashMap<>();
        for (TensorProto init : model.graph().getInitializerList()) {
            initializers.put(init.getName(), init);
        }
        Map<String, ZeroPoint> out = new HashMap<>();
        for (NodeProto node : model.graph().getNodeList()) {
            // {weight input, zero point input, axis of a per-channel zero point}
            int[] slots = switch (node.getOpType()) {
                case "DequantizeLinear" -> new int[] {0, 2, (int) OnnxHelper.getInt(node, "axis", 1)};
                case "MatMulInteger" -> new int[] {1, 3, -1}; // per column of B [K, N]
                case "ConvInteger" -> new int[] {1, 3, 0}; // per output channel
                case "QLinearConv" -> new int[] {3, 5, 0};
                case "QLinearMatMul" -> new int[] {3, 5, -1};
                default -> null;
            };
            if (slots == null || node.getInputCount() <= slots[0]) {
                continue;
            }
            String weight = node.getInput(slots[0]);
            if (!initializers.containsKey(weight)) {
                continue;
            }
            String zpName = node.getInputCount() > slots[1] ? node.getInput(slots[1]) : "";
            TensorProto zp = initializers.get(zpName);
            double[] values = zp == null ? new double[] {0} : model.tensor(zp).toDoubleArray();
            if (values.length > 0) {
                out.put(weight, new ZeroPoint(values, slots[2]));
            }
        }
        return out;
    }

    private static final class CountingOutputStream extends OutputStream {
        long count;

        @Override
        public void write(int b) {
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) {
            count += len;
        }
    }
}
