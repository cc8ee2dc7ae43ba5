package io.modelrefinery.api.train;

import io.modelrefinery.api.data.Batch;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.DatasetReader;
import io.modelrefinery.api.onnx.Tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Random;

/**
 * One pass over a dataset in mini-batches, shuffled within a window: a block of samples is read, its
 * order permuted, and cut into batches (tf.data's shuffle buffer). Memory holds one block, whatever the
 * dataset's size. Not thread-safe.
 */
final class BatchStream implements AutoCloseable {
    private final DatasetReader reader;
    private final int batchSize;
    private final int block;
    private final Random random;
    private final Deque<Batch> ready = new ArrayDeque<>();

    /**
     * @param shuffleWindow samples shuffled together; 0 keeps the file order
     * @param random the generator (its state carries over between epochs)
     */
    BatchStream(Dataset dataset, int batchSize, int shuffleWindow, Random random) {
        this.reader = dataset.open();
        this.batchSize = batchSize;
        this.block = shuffleWindow <= batchSize ? batchSize : (shuffleWindow + batchSize - 1) / batchSize * batchSize;
        this.random = shuffleWindow > 0 ? random : null;
    }

    Optional<Batch> next() {
        if (ready.isEmpty()) {
            Optional<Batch> read = reader.next(block);
            if (read.isEmpty()) {
                return Optional.empty();
            }
            split(read.get());
        }
        return Optional.of(ready.poll());
    }

    private void split(Batch chunk) {
        int n = chunk.size();
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        if (random != null) {
            for (int i = n - 1; i > 0; i--) {
                int j = random.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
        for (int start = 0; start < n; start += batchSize) {
            int size = Math.min(batchSize, n - start);
            Map<String, Tensor> arrays = new LinkedHashMap<>();
            for (var e : chunk.arrays().entrySet()) {
                arrays.put(e.getKey(), gather(e.getValue(), order, start, size, n));
            }
            ready.add(new Batch(size, arrays));
        }
    }

    private static Tensor gather(Tensor t, int[] order, int start, int size, int n) {
        long[] shape = t.shape();
        int sampleBytes = Math.toIntExact(t.byteSize() / n);
        ByteBuffer src = t.data();
        ByteBuffer out = ByteBuffer.allocate(sampleBytes * size).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < size; i++) {
            int from = order[start + i] * sampleBytes;
            out.put(src.duplicate().position(from).limit(from + sampleBytes));
        }
        out.flip();
        shape[0] = size;
        return Tensor.of(t.type(), shape, out);
    }

    @Override
    public void close() {
        reader.close();
    }
}
