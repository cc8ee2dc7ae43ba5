package io.modelrefinery.api.data;

import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

/**
 * Opens NumPy datasets: {@code .npz} archives with one array per model input (plus optional
 * {@code labels}), or a single {@code .npy} array for single-input models. Headers are checked when the
 * dataset is opened; data is streamed sample by sample, never loaded whole.
 */
public final class Datasets {
    private static final int MAX_ARRAYS = 1024;

    private Datasets() {
    }

    /**
     * Opens a dataset file.
     *
     * @param file an {@code .npz} or {@code .npy} file
     * @param npyArrayName the name a {@code .npy} file's single array takes (the model's input name)
     * @throws InvalidDataException if the file is missing or malformed
     */
    public static Dataset open(Path file, String npyArrayName) {
        if (!Files.isRegularFile(file)) {
            throw new InvalidDataException("dataset file not found: " + file);
        }
        try {
            if (isZip(file)) {
                return NumpyDataset.npz(file);
            }
            return NumpyDataset.npy(file, npyArrayName);
        } catch (NoSuchFileException e) {
            throw new InvalidDataException("dataset file not found: " + file);
        } catch (ZipException e) {
            throw new InvalidDataException(file.getFileName() + " is not a readable .npz archive: " + e.getMessage());
        } catch (IOException e) {
            throw new InvalidDataException("cannot read dataset " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Checks that {@code dataset} can feed a model with {@code modelInputs}: every input present with
     * its element type and a shape the model accepts, and at least one sample.
     *
     * @throws InvalidDataException naming the first input that does not fit
     */
    public static void requireFits(Dataset dataset, List<TensorInfo> modelInputs) {
        Map<String, TensorInfo> arrays = new LinkedHashMap<>();
        for (TensorInfo a : dataset.arrays()) {
            arrays.put(a.name(), a);
        }
        for (TensorInfo input : modelInputs) {
            TensorInfo array = arrays.get(input.name());
            if (array == null) {
                throw new InvalidDataException(dataset.source() + " has no array for model input '" + input.name()
                        + "' (arrays: " + arrays.keySet() + ")");
            }
            if (array.type() != input.type()) {
                throw new InvalidDataException(dataset.source() + ": array '" + input.name() + "' is " + array.type()
                        + " but the model input is " + input.type());
            }
            long[] batched = new long[array.rank() + 1];
            batched[0] = input.rank() > 0 && input.shape()[0] > 0 ? input.shape()[0] : 1; // fed in its own batch size
            System.arraycopy(array.shape(), 0, batched, 1, array.rank());
            if (!input.accepts(batched)) {
                throw new InvalidDataException(dataset.source() + ": array '" + input.name() + "' has samples of shape "
                        + array.shapeString() + " but the model input is " + input.shapeString()
                        + firstMismatch(input.shape(), batched));
            }
        }
        if (dataset.size() == 0) {
            throw new InvalidDataException(dataset.source() + " has no samples");
        }
    }

    /** Names the first dimension where a sample does not fit, when the ranks agree. */
    private static String firstMismatch(long[] model, long[] batched) {
        if (model.length != batched.length) {
            return "";
        }
        for (int d = 1; d < model.length; d++) {
            if (model[d] >= 0 && model[d] != batched[d]) {
                return " (dimension " + d + " is " + model[d] + " in the model, " + batched[d] + " in the data)";
            }
        }
        return "";
    }

    /**
     * The batch size to feed a model with: the first dimension its inputs fix (most exported files fix a
     * batch of 1, and feeding more fails), or {@code preferred} when it is symbolic. Inputs of rank 0 have no
     * batch dimension.
     *
     * @throws InvalidDataException if two inputs fix different batch sizes
     */
    public static int batchSize(List<TensorInfo> modelInputs, int preferred) {
        long fixed = -1;
        String fixedBy = null;
        for (TensorInfo input : modelInputs) {
            long first = input.rank() > 0 ? input.shape()[0] : -1;
            if (first < 1) {
                continue;
            }
            if (fixed > 0 && first != fixed) {
                throw new InvalidDataException("model inputs '" + fixedBy + "' and '" + input.name()
                        + "' fix different batch sizes (" + fixed + " and " + first + ")");
            }
            fixed = first;
            fixedBy = input.name();
        }
        return fixed > 0 ? (int) Math.min(fixed, Integer.MAX_VALUE) : preferred;
    }

    /**
     * {@link #forEachBatch} in batches a model with {@code modelInputs} takes: of the batch size its inputs fix,
     * or of at most {@code preferredBatch} samples when the batch dimension is symbolic. With a fixed batch of
     * N the samples that do not fill a last batch are left out (the returned count says how many were read).
     *
     * @throws InvalidDataException if the data holds fewer samples than one fixed batch
     */
    public static long forEachModelBatch(Dataset data, List<TensorInfo> modelInputs, int preferredBatch,
                                         long maxSamples, Runnable beforeEachBatch, BatchHandler handler) {
        int fixed = batchSize(modelInputs, -1);
        if (fixed < 1) {
            return forEachBatch(data, preferredBatch, maxSamples, beforeEachBatch, handler);
        }
        long available = maxSamples > 0 ? Math.min(maxSamples, data.size()) : data.size();
        long whole = available / fixed * fixed;
        if (available > 0 && whole == 0) {
            throw new InvalidDataException(data.source() + " has " + available + " samples, but the model takes "
                    + "batches of exactly " + fixed);
        }
        return forEachBatch(data, fixed, whole, beforeEachBatch, handler);
    }

    /** Receives the batches of {@link #forEachBatch}. */
    @FunctionalInterface
    public interface BatchHandler {
        /**
         * @param batch the next samples, every floating-point array checked finite
         * @param offset how many samples came before this batch
         * @param total how many samples the pass reads at most
         */
        void accept(Batch batch, long offset, long total);
    }

    /**
     * One pass over the first {@code maxSamples} samples of {@code data} (all for 0), in batches of at most
     * {@code batchSize}: the calibration loop of every transform that reads samples in order.
     *
     * @param beforeEachBatch runs before each batch is read (a transform passes its cancellation check)
     * @return the samples read, fewer than asked when the data holds fewer
     * @throws InvalidDataException if the data has no samples, or an array holds NaN or infinity (named,
     *     with the sample)
     */
    public static long forEachBatch(Dataset data, int batchSize, long maxSamples, Runnable beforeEachBatch,
                                    BatchHandler handler) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be at least 1, not " + batchSize);
        }
        long total = maxSamples > 0 ? Math.min(maxSamples, data.size()) : data.size();
        if (total == 0) {
            throw new InvalidDataException(data.source() + " has no samples");
        }
        long done = 0;
        try (DatasetReader reader = data.open()) {
            while (done < total) {
                beforeEachBatch.run();
                Optional<Batch> next = reader.next((int) Math.min(batchSize, total - done));
                if (next.isEmpty()) {
                    break;
                }
                for (Map.Entry<String, Tensor> array : next.get().arrays().entrySet()) {
                    requireFinite(data, array.getValue(), array.getKey(), done);
                }
                handler.accept(next.get(), done, total);
                done += next.get().size();
            }
        }
        return done;
    }

    private static void requireFinite(Dataset data, Tensor t, String name, long offset) {
        if (!t.type().isFloatingPoint()) {
            return;
        }
        long perSample = Math.max(1, t.elementCount() / Math.max(1, t.dim(0)));
        if (t.type() == DataType.FLOAT) { // the common case, read in place
            FloatBuffer values = t.data().asFloatBuffer();
            for (int i = values.position(); i < values.limit(); i++) {
                if (!Float.isFinite(values.get(i))) {
                    throw notFinite(data, name, values.get(i), offset + i / perSample);
                }
            }
            return;
        }
        double[] values = t.toDoubleArray();
        for (int i = 0; i < values.length; i++) {
            if (!Double.isFinite(values[i])) {
                throw notFinite(data, name, values[i], offset + i / perSample);
            }
        }
    }

    private static InvalidDataException notFinite(Dataset data, String name, double value, long sample) {
        return new InvalidDataException(data.source() + ": array '" + name + "' holds " + value + " in sample " + sample);
    }

    /** Writes {@code arrays} as an uncompressed {@code .npz} archive, atomically. */
    public static void writeNpz(Path file, Map<String, Tensor> arrays) throws IOException {
        io.modelrefinery.api.AtomicFiles.write(file, out -> writeNpz(out, arrays));
    }

    private static void writeNpz(OutputStream out, Map<String, Tensor> arrays) throws IOException {
        try (ZipOutputStream zip = new ZipOutputStream(out)) {
            for (Map.Entry<String, Tensor> e : arrays.entrySet()) {
                zip.putNextEntry(new ZipEntry(e.getKey() + ".npy"));
                Npy.write(zip, e.getValue());
                zip.closeEntry();
            }
        }
    }

    private static boolean isZip(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            byte[] magic = in.readNBytes(4);
            return magic.length == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
        }
    }

    /** A dataset of one or more .npy arrays, in a zip archive or a plain file. */
    private static final class NumpyDataset implements Dataset {
        private final Path file;
        private final boolean zipped;
        private final Map<String, Npy.Header> headers; // array name to header, in archive order
        private final Map<String, String> entries; // array name to zip entry name
        private final long size;

        private NumpyDataset(Path file, boolean zipped, Map<String, Npy.Header> headers, Map<String, String> entries) {
            this.file = file;
            this.zipped = zipped;
            this.headers = headers;
            this.entries = entries;
            this.size = sampleCount(file, headers);
        }

        static NumpyDataset npy(Path file, String name) throws IOException {
            Npy.Header header;
            try (InputStream in = new BufferedInputStream(Files.newInputStream(file))) {
                header = Npy.readHeader(in, file.getFileName().toString());
            }
            requireLength(file.getFileName().toString(), header, Files.size(file));
            return new NumpyDataset(file, false, Map.of(name, header), Map.of());
        }

        static NumpyDataset npz(Path file) throws IOException {
            Map<String, Npy.Header> headers = new LinkedHashMap<>();
            Map<String, String> entries = new LinkedHashMap<>();
            try (ZipFile zip = new ZipFile(file.toFile())) {
                Enumeration<? extends ZipEntry> all = zip.entries();
                while (all.hasMoreElements()) {
                    ZipEntry entry = all.nextElement();
                    if (entry.isDirectory()) {
                        continue;
                    }
                    String source = file.getFileName() + "!" + entry.getName();
                    if (!entry.getName().endsWith(".npy")) {
                        throw new InvalidDataException(source + " is not a .npy array");
                    }
                    if (headers.size() >= MAX_ARRAYS) {
                        throw new InvalidDataException(file.getFileName() + " has more than " + MAX_ARRAYS + " arrays");
                    }
                    String name = entry.getName().substring(0, entry.getName().length() - 4);
                    Npy.Header header;
                    try (InputStream in = new BufferedInputStream(zip.getInputStream(entry))) {
                        header = Npy.readHeader(in, source);
                    }
                    if (entry.getSize() >= 0) {
                        requireLength(source, header, entry.getSize());
                    }
                    if (headers.putIfAbsent(name, header) != null) {
                        throw new InvalidDataException(file.getFileName() + " has two arrays named '" + name + "'");
                    }
                    entries.put(name, entry.getName());
                }
            }
            if (headers.isEmpty()) {
                throw new InvalidDataException(file.getFileName() + " holds no arrays");
            }
            return new NumpyDataset(file, true, headers, entries);
        }

        private static void requireLength(String source, Npy.Header header, long actual) {
            long expected = header.headerBytes() + header.dataBytes();
            if (actual != expected) {
                throw new InvalidDataException(source + " is " + actual + " bytes, but its header declares "
                        + header.type() + Arrays.toString(header.shape()) + " (" + expected + " bytes)");
            }
        }

        private static long sampleCount(Path file, Map<String, Npy.Header> headers) {
            long count = -1;
            String first = null;
            for (Map.Entry<String, Npy.Header> e : headers.entrySet()) {
                long[] shape = e.getValue().shape();
                if (shape.length == 0) {
                    throw new InvalidDataException(file.getFileName() + ": array '" + e.getKey()
                            + "' is a scalar; arrays need a first dimension of samples");
                }
                if (count < 0) {
                    count = shape[0];
                    first = e.getKey();
                } else if (shape[0] != count) {
                    throw new InvalidDataException(file.getFileName() + ": array '" + e.getKey() + "' has " + shape[0]
                            + " samples but '" + first + "' has " + count);
                }
            }
            return count;
        }

        @Override
        public String source() {
            return file.getFileName().toString();
        }

        @Override
        public long size() {
            return size;
        }

        @Override
        public List<TensorInfo> arrays() {
            List<TensorInfo> out = new ArrayList<>();
            for (Map.Entry<String, Npy.Header> e : headers.entrySet()) {
                long[] shape = e.getValue().shape();
                out.add(new TensorInfo(e.getKey(), e.getValue().type(), Arrays.copyOfRange(shape, 1, shape.length)));
            }
            return Collections.unmodifiableList(out);
        }

        @Override
        public DatasetReader open() {
            try {
                return new Reader();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read dataset " + file, e);
            }
        }

        /** Reads every array in lockstep, one stream each, so that memory holds one batch. */
        private final class Reader implements DatasetReader {
            private final ZipFile zip;
            private final Map<String, InputStream> streams = new LinkedHashMap<>();
            private long position;

            Reader() throws IOException {
                zip = zipped ? new ZipFile(file.toFile()) : null;
                try {
                    for (Map.Entry<String, Npy.Header> e : headers.entrySet()) {
                        InputStream raw = zipped ? zip.getInputStream(zip.getEntry(entries.get(e.getKey())))
                                : Files.newInputStream(file);
                        InputStream in = new BufferedInputStream(raw, 1 << 16);
                        streams.put(e.getKey(), in);
                        in.skipNBytes(e.getValue().headerBytes());
                    }
                } catch (IOException | RuntimeException e) {
                    close();
                    throw e;
                }
            }

            @Override
            public Optional<Batch> next(int maxSamples) {
                if (maxSamples <= 0) {
                    throw new IllegalArgumentException("maxSamples must be positive: " + maxSamples);
                }
                int count = (int) Math.min(maxSamples, size - position);
                if (count <= 0) {
                    return Optional.empty();
                }
                Map<String, Tensor> arrays = new LinkedHashMap<>();
                for (Map.Entry<String, InputStream> e : streams.entrySet()) {
                    arrays.put(e.getKey(), read(e.getKey(), e.getValue(), count));
                }
                position += count;
                return Optional.of(new Batch(count, arrays));
            }

            private Tensor read(String name, InputStream in, int count) {
                Npy.Header header = headers.get(name);
                long[] shape = header.shape().clone();
                long perSample = shape[0] == 0 ? 0 : header.dataBytes() / shape[0];
                long bytes = perSample * count;
                if (bytes > Integer.MAX_VALUE - 8) {
                    throw new InvalidDataException(source() + ": " + count + " samples of '" + name
                            + "' exceed 2 GiB; read smaller batches");
                }
                byte[] data;
                try {
                    data = in.readNBytes((int) bytes);
                } catch (IOException e) {
                    throw new InvalidDataException(source() + ": cannot read array '" + name + "': " + e.getMessage(), e);
                }
                if (data.length != bytes) {
                    throw new InvalidDataException(source() + ": array '" + name + "' is truncated at sample "
                            + (position + data.length / Math.max(1, perSample)));
                }
                if (header.bigEndian()) {
                    Npy.swapToLittleEndian(data, header.type().bits() / 8);
                }
                shape[0] = count;
                return Tensor.of(header.type(), shape, ByteBuffer.wrap(data));
            }

            @Override
            public void close() {
                for (InputStream in : streams.values()) {
                    try {
                        in.close();
                    } catch (IOException ignored) {
                        // read-only stream
                    }
                }
                if (zip != null) {
                    try {
                        zip.close();
                    } catch (IOException ignored) {
                        // read-only archive
                    }
                }
            }
        }
    }
}
