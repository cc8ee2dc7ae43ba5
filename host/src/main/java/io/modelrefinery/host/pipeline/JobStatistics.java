package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.data.Batch;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.DatasetReader;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.StatisticsCache;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.WeakHashMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The {@link StatisticsCache} of one job, shared by every step of every candidate the job runs, so that
 * statistics computed from the samples (calibration ranges) are computed once per model, samples and
 * settings. Entries are keyed by the transform, a SHA-256 of the model (its weights included), a SHA-256 of
 * the samples in the role and the transform's own key; they live in memory for the job. Within the job the
 * samples of a role never change, so entries are held without the samples' hash, which is computed (once,
 * reading every sample) only to compare with a previous version's entries or to hand entries out: a job with
 * one calibrating step never reads its samples for it. {@link #remembering} layers the statistics of a model's previous version underneath, for
 * recipe memory.
 */
public final class JobStatistics {
    /**
     * What an entry is stored under.
     *
     * @param transform the transform id
     * @param model SHA-256 of the model the statistics are of
     * @param role which of the job's samples
     * @param data SHA-256 of those samples
     * @param key the transform's description of the settings that change the statistics
     */
    public record Entry(String transform, String model, DataRole role, String data, String key) {
        /** Whether {@code other} is the same but for the model. */
        boolean sameButModel(Entry other) {
            return transform.equals(other.transform) && role == other.role && data.equals(other.data)
                    && key.equals(other.key);
        }
    }

    /** An entry of this job: the samples are the job's, so their hash is left out until it is needed. */
    private record Local(String transform, String model, DataRole role, String key) {
        Entry withData(String data) {
            return new Entry(transform, model, role, data, key);
        }
    }

    private final JobData data;
    private final Map<Local, byte[]> entries;
    private final Map<DataRole, String> dataHashes;
    private final Map<Entry, byte[]> remembered;
    private final AtomicInteger computed;
    private final AtomicInteger reused;
    /** By identity (a model has no equals of its own), and weakly: the job's models come and go. */
    private final Map<OnnxModel, String> modelHashes;

    /** An empty cache over the job's samples. */
    public JobStatistics(JobData data) {
        this(data, new ConcurrentHashMap<>(), new EnumMap<>(DataRole.class), Map.of(), new AtomicInteger(),
                new AtomicInteger(), new WeakHashMap<>());
    }

    private JobStatistics(JobData data, Map<Local, byte[]> entries, Map<DataRole, String> dataHashes,
                          Map<Entry, byte[]> remembered, AtomicInteger computed, AtomicInteger reused,
                          Map<OnnxModel, String> modelHashes) {
        this.data = data;
        this.modelHashes = modelHashes;
        this.entries = entries;
        this.dataHashes = dataHashes;
        this.remembered = remembered;
        this.computed = computed;
        this.reused = reused;
    }

    /**
     * A view that also answers from {@code previous} (entries of a model's previous version, on the same
     * samples and settings, whatever the model's hash) when this job has no entry of its own. What the view
     * stores stays in the view: a statistic partly built from another model's must not be taken for this
     * model's by the candidates that run afterwards. Counters are shared.
     */
    public JobStatistics remembering(Map<Entry, byte[]> previous) {
        return new JobStatistics(data, new ConcurrentHashMap<>(entries), dataHashes, Map.copyOf(previous), computed,
                reused, modelHashes);
    }

    /** The cache a step of {@code transformId} sees. */
    public StatisticsCache forTransform(String transformId) {
        return new StatisticsCache() {
            @Override
            public Optional<byte[]> get(OnnxModel model, DataRole role, String key) {
                // nothing stored and nothing remembered: no hash of the model or the samples can find anything
                if (data.get(role).isEmpty() || entries.isEmpty() && remembered.isEmpty()) {
                    return Optional.empty();
                }
                Local local = new Local(transformId, modelHash(model), role, key);
                byte[] found = entries.get(local);
                if (found == null && !remembered.isEmpty()) {
                    Entry entry = local.withData(dataHash(role).orElseThrow());
                    found = remembered.entrySet().stream().filter(e -> e.getKey().sameButModel(entry))
                            .map(Map.Entry::getValue).findFirst().orElse(null);
                }
                if (found == null) {
                    return Optional.empty();
                }
                reused.incrementAndGet();
                return Optional.of(found.clone());
            }

            @Override
            public void put(OnnxModel model, DataRole role, String key, byte[] statistics) {
                if (data.get(role).isPresent()) {
                    entries.put(new Local(transformId, modelHash(model), role, key), statistics.clone());
                    computed.incrementAndGet();
                }
            }
        };
    }

    /** Every entry this cache holds (not those of a previous version it only reads). */
    public Map<Entry, byte[]> entries() {
        Map<Entry, byte[]> all = new HashMap<>();
        entries.forEach((local, bytes) -> all.put(local.withData(dataHash(local.role()).orElseThrow()), bytes));
        return Map.copyOf(all);
    }

    /** How many statistics steps computed and stored. */
    public int computed() {
        return computed.get();
    }

    /** How many times a step read statistics instead of computing them. */
    public int reused() {
        return reused.get();
    }

    /** SHA-256 of the samples in {@code role}, computed on first use; empty when the job has none. */
    Optional<String> dataHash(DataRole role) {
        Optional<Dataset> samples = data.get(role);
        if (samples.isEmpty()) {
            return Optional.empty();
        }
        synchronized (dataHashes) {
            return Optional.of(dataHashes.computeIfAbsent(role, r -> hash(samples.get())));
        }
    }

    /** SHA-256 of the samples' array names, shapes, types and values. */
    static String hash(Dataset samples) {
        MessageDigest digest = sha256();
        List<String> names = new ArrayList<>();
        for (TensorInfo array : samples.arrays()) {
            names.add(array.name());
            digest.update((array.name() + ":" + array.type() + Arrays.toString(array.shape()) + ";")
                    .getBytes(StandardCharsets.UTF_8));
        }
        try (DatasetReader reader = samples.open()) {
            for (Optional<Batch> batch = reader.next(64); batch.isPresent(); batch = reader.next(64)) {
                for (String name : names) {
                    Tensor tensor = batch.get().get(name);
                    ByteBuffer bytes = tensor.data();
                    digest.update(bytes.duplicate());
                }
            }
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    /**
     * SHA-256 of the model ({@link OnnxModel#sha256}), computed once per model object: a step looks its
     * statistics up and then stores them under the same model, and hashing reads every weight (some 50 ms for
     * 10 MB).
     */
    private String modelHash(OnnxModel model) {
        synchronized (modelHashes) {
            String known = modelHashes.get(model);
            if (known != null) {
                return known;
            }
        }
        String hash = model.sha256(); // outside the lock: steps of parallel candidates hash their own models
        synchronized (modelHashes) {
            modelHashes.put(model, hash);
        }
        return hash;
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
    }

    /** For messages: how many were computed and reused. */
    @Override
    public String toString() {
        return "statistics computed " + computed() + ", reused " + reused();
    }
}
