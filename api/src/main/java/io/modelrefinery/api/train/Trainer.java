package io.modelrefinery.api.train;

import io.modelrefinery.api.data.Batch;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.InvalidDataException;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.plugin.Cancellation;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Random;
import java.util.Set;

/**
 * Trains a {@link TrainingGraph} on a dataset: for each epoch, a pass of shuffled mini-batches streamed
 * from the dataset; for each batch, one run of the training graph in ONNX Runtime (forward, loss,
 * gradients) and one {@link Optimizer} step in Java. Listeners see every step (to apply pruning masks,
 * change the learning rate) and every epoch (loss, accuracy, speed). A NaN or infinite loss or gradient
 * stops training with {@link TrainingDivergedException}: no model is made from diverged weights.
 *
 * <p>Build one with {@link #builder}; {@link #fit} may be called once. Not thread-safe.
 */
public final class Trainer {

    /** Supplies the target inputs of a batch (labels, a teacher's soft targets). */
    @FunctionalInterface
    public interface TargetProvider {
        /** Every target input of the graph ({@link TrainingGraph#targets()}) for {@code batch}. */
        Map<String, Tensor> targets(Batch batch);
    }

    /** Sees training as it goes; called on the training thread. */
    public interface Listener {
        /**
         * After the optimizer step: {@code parameters} may be changed in place (masks, clipping) and
         * are fed as they are left to the next step.
         */
        default void afterStep(Step step, Map<String, float[]> parameters) {
        }

        default void afterEpoch(EpochStats stats) {
        }
    }

    /**
     * One optimizer step.
     *
     * @param epoch 1-based
     * @param step 1-based count over the whole run
     * @param samples samples in the batch
     * @param loss the batch's loss before the step
     */
    public record Step(int epoch, long step, int samples, double loss) {
    }

    /**
     * One pass over the data.
     *
     * @param accuracy share of samples classified right during the pass (the weights changing as it
     *     goes, as training frameworks report it); NaN without labels or a classification loss
     * @param samplesPerSecond training throughput: forward, backward and update
     */
    public record EpochStats(int epoch, int epochs, long samples, long steps, double loss, double accuracy,
                             double seconds, double samplesPerSecond) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "epoch %d/%d: loss %.4f%s, %d samples, %.0f samples/s", epoch, epochs,
                    loss, Double.isNaN(accuracy) ? "" : String.format(Locale.ROOT, ", accuracy %.2f%%", 100 * accuracy),
                    samples, samplesPerSecond);
        }
    }

    /**
     * What training produced.
     *
     * @param model the inference model with the trained weights and running statistics
     * @param parameters the trained values by initializer name
     */
    public record Result(OnnxModel model, Map<String, float[]> parameters, List<EpochStats> epochs, long steps) {
        /** Training throughput over the whole run. */
        public double samplesPerSecond() {
            double seconds = epochs.stream().mapToDouble(EpochStats::seconds).sum();
            long samples = epochs.stream().mapToLong(EpochStats::samples).sum();
            return seconds > 0 ? samples / seconds : 0;
        }
    }

    private final TrainingGraph graph;
    private final InferenceService inference;
    private final Optimizer optimizer;
    private final int epochs;
    private final int batchSize;
    private final int shuffleWindow;
    private final long seed;
    private final TargetProvider targets;
    private final List<Listener> listeners;
    private final Cancellation cancellation;
    private final SessionOptions sessionOptions;

    private Trainer(Builder b) {
        this.graph = b.graph;
        this.inference = b.inference;
        this.optimizer = Objects.requireNonNull(b.optimizer, "optimizer");
        this.epochs = b.epochs;
        this.batchSize = b.batchSize;
        this.shuffleWindow = b.shuffleWindow;
        this.seed = b.seed;
        if (b.targets == null && b.graph.targets().containsKey(Loss.SOFT_TARGET)) {
            throw new IllegalStateException("the loss " + b.graph.loss() + " needs soft targets: give a TargetProvider");
        }
        this.targets = b.targets != null ? b.targets : labelTargets(b.graph);
        this.listeners = List.copyOf(b.listeners);
        this.cancellation = b.cancellation;
        this.sessionOptions = b.sessionOptions;
    }

    public static Builder builder(TrainingGraph graph, InferenceService inference) {
        return new Builder(graph, inference);
    }

    /**
     * The hard targets from the batch's labels (one-hot for multi-class heads); soft targets are left to
     * the caller. The default provider.
     *
     * @throws InvalidDataException when a batch has no labels
     */
    public static TargetProvider labelTargets(TrainingGraph graph) {
        return batch -> {
            Map<String, Tensor> out = new LinkedHashMap<>();
            for (var e : graph.targets().entrySet()) {
                if (e.getKey().equals(Loss.SOFT_TARGET)) {
                    continue;
                }
                Tensor labels = batch.labels().orElseThrow(() -> new InvalidDataException(
                        "training data has no '" + Dataset.LABELS + "' array"));
                out.put(e.getKey(), SoftTargets.fromLabels(labels, e.getValue(), graph.head()));
            }
            return out;
        };
    }

    /** Whether every input of the batch fits the batch dimension the graph fixes for it, if it fixes one. */
    private static boolean fitsFixedBatch(List<TensorInfo> graphInputs, Batch batch) {
        for (TensorInfo in : graphInputs) {
            if (batch.inputs().containsKey(in.name()) && in.rank() > 0 && in.shape()[0] > 0
                    && in.shape()[0] != batch.size()) {
                return false;
            }
        }
        return true;
    }

    /**
     * Trains for the configured epochs. A graph whose inputs fix the batch dimension (an export with a
     * batch of 1) needs batches of that size: give it as {@link Builder#batchSize}; a last batch that does
     * not fill it is left out.
     *
     * @throws TrainingDivergedException if the loss or a gradient stops being finite
     * @throws io.modelrefinery.api.plugin.TransformCancelledException if cancelled (checked between steps)
     */
    public Result fit(Dataset data) {
        if (data.size() == 0) {
            throw new InvalidDataException("training data " + data.source() + " has no samples");
        }
        Map<String, float[]> params = new LinkedHashMap<>();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (var e : graph.parameters().entrySet()) {
            params.put(e.getKey(), e.getValue().toFloatArray());
            shapes.put(e.getKey(), e.getValue().shape());
        }
        Map<String, float[]> running = new LinkedHashMap<>();
        for (TrainingGraph.RunningStatistics r : graph.runningStatistics()) {
            running.put(r.mean(), graph.inferenceModel().initializer(r.mean()).orElseThrow().toFloatArray());
            running.put(r.variance(), graph.inferenceModel().initializer(r.variance()).orElseThrow().toFloatArray());
        }
        List<String> outputs = new ArrayList<>();
        outputs.add(TrainingGraph.LOSS);
        outputs.add(graph.logits());
        for (String p : params.keySet()) {
            outputs.add(graph.gradientOutput(p));
        }
        for (TrainingGraph.RunningStatistics r : graph.runningStatistics()) {
            outputs.add(r.batchMean());
            outputs.add(r.batchVariance());
        }
        Random random = new Random(seed);
        List<EpochStats> stats = new ArrayList<>();
        long step = 0;
        try (InferenceSession session = inference.open(graph.model(), sessionOptions)) {
            Set<String> feedable = new HashSet<>();
            for (TensorInfo in : session.inputs()) {
                feedable.add(in.name());
            }
            for (int epoch = 1; epoch <= epochs; epoch++) {
                long start = System.nanoTime();
                double lossSum = 0;
                long samples = 0;
                long correct = 0;
                long scored = 0;
                long epochSteps = 0;
                try (BatchStream stream = new BatchStream(data, batchSize, shuffleWindow, random)) {
                    for (Optional<Batch> next = stream.next(); next.isPresent(); next = stream.next()) {
                        cancellation.throwIfCancelled();
                        Batch batch = next.get();
                        if (!fitsFixedBatch(session.inputs(), batch)) {
                            continue; // a last partial batch that a fixed batch dimension does not take
                        }
                        Map<String, Tensor> feeds = new LinkedHashMap<>();
                        for (var in : batch.inputs().entrySet()) {
                            if (feedable.contains(in.getKey())) {
                                feeds.put(in.getKey(), in.getValue());
                            }
                        }
                        for (var p : params.entrySet()) {
                            feeds.put(p.getKey(), Tensor.ofFloats(shapes.get(p.getKey()), p.getValue()));
                        }
                        feeds.putAll(targets.targets(batch));
                        Map<String, Tensor> result = session.run(feeds, outputs);
                        step++;
                        epochSteps++;
                        double loss = result.get(TrainingGraph.LOSS).getDouble(0);
                        if (!Double.isFinite(loss)) {
                            throw diverged("the loss is " + loss, epoch, step);
                        }
                        Map<String, float[]> grads = new LinkedHashMap<>();
                        for (String p : params.keySet()) {
                            float[] g = result.get(graph.gradientOutput(p)).toFloatArray();
                            for (float v : g) {
                                if (!Float.isFinite(v)) {
                                    throw diverged("the gradient of '" + p + "' is " + v, epoch, step);
                                }
                            }
                            grads.put(p, g);
                        }
                        optimizer.step(params, grads);
                        for (TrainingGraph.RunningStatistics r : graph.runningStatistics()) {
                            blend(running.get(r.mean()), result.get(r.batchMean()).toFloatArray(), r.momentum());
                            blend(running.get(r.variance()), result.get(r.batchVariance()).toFloatArray(), r.momentum());
                        }
                        lossSum += loss * batch.size();
                        samples += batch.size();
                        if (graph.loss().classifies() && batch.labels().isPresent()) {
                            correct += correct(result.get(graph.logits()), batch.labels().get(), graph.head());
                            scored += batch.size();
                        }
                        Step done = new Step(epoch, step, batch.size(), loss);
                        for (Listener l : listeners) {
                            l.afterStep(done, params);
                        }
                    }
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                EpochStats epochStats = new EpochStats(epoch, epochs, samples, epochSteps, lossSum / samples,
                        scored == 0 ? Double.NaN : (double) correct / scored, seconds, samples / seconds);
                stats.add(epochStats);
                for (Listener l : listeners) {
                    l.afterEpoch(epochStats);
                }
            }
        }
        Map<String, float[]> values = new LinkedHashMap<>(params);
        values.putAll(running);
        return new Result(graph.inferenceModel(values), params, stats, step);
    }

    private TrainingDivergedException diverged(String what, int epoch, long step) {
        return new TrainingDivergedException(String.format(Locale.ROOT,
                "training diverged: %s at epoch %d, step %d (learning rate %.3g); lower the learning rate",
                what, epoch, step, optimizer.learningRate()));
    }

    /** ONNX's running-statistics update: {@code running = running * momentum + batch * (1 - momentum)}. */
    private static void blend(float[] running, float[] batch, float momentum) {
        for (int i = 0; i < running.length; i++) {
            running[i] = running[i] * momentum + batch[i] * (1 - momentum);
        }
    }

    /** Samples whose predicted class (from the logits) equals the label (a class id, 0/1, or one-hot row). */
    public static long correct(Tensor logits, Tensor labels, Head head) {
        float[] z = logits.toFloatArray();
        double[] y = labels.toDoubleArray();
        int n = (int) logits.dim(0);
        long hits = 0;
        if (head == Head.BINARY) {
            if (z.length != n || y.length != n) {
                return 0;
            }
            for (int i = 0; i < n; i++) {
                hits += (z[i] >= 0 ? 1 : 0) == (y[i] >= 0.5 ? 1 : 0) ? 1 : 0;
            }
            return hits;
        }
        int classes = z.length / n;
        boolean oneHot = y.length == z.length;
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int k = 1; k < classes; k++) {
                if (z[i * classes + k] > z[i * classes + best]) {
                    best = k;
                }
            }
            int label;
            if (oneHot) {
                label = 0;
                for (int k = 1; k < classes; k++) {
                    if (y[i * classes + k] > y[i * classes + label]) {
                        label = k;
                    }
                }
            } else {
                label = (int) y[i];
            }
            hits += best == label ? 1 : 0;
        }
        return hits;
    }

    /** Configures a {@link Trainer}. */
    public static final class Builder {
        private final TrainingGraph graph;
        private final InferenceService inference;
        private Optimizer optimizer;
        private int epochs = 1;
        private int batchSize = 32;
        private int shuffleWindow = 4096;
        private long seed = 1;
        private TargetProvider targets;
        private final List<Listener> listeners = new ArrayList<>();
        private Cancellation cancellation = Cancellation.never();
        private SessionOptions sessionOptions = SessionOptions.defaults();

        private Builder(TrainingGraph graph, InferenceService inference) {
            this.graph = Objects.requireNonNull(graph, "graph");
            this.inference = Objects.requireNonNull(inference, "inference");
        }

        public Builder optimizer(Optimizer value) {
            this.optimizer = value;
            return this;
        }

        public Builder epochs(int value) {
            if (value < 1) {
                throw new IllegalArgumentException("epochs must be at least 1: " + value);
            }
            this.epochs = value;
            return this;
        }

        public Builder batchSize(int value) {
            if (value < 1) {
                throw new IllegalArgumentException("batch size must be at least 1: " + value);
            }
            this.batchSize = value;
            return this;
        }

        /** Samples shuffled together (default 4096); 0 keeps the data's order. */
        public Builder shuffleWindow(int value) {
            if (value < 0) {
                throw new IllegalArgumentException("shuffle window must not be negative: " + value);
            }
            this.shuffleWindow = value;
            return this;
        }

        /** Seed of the shuffling: the same seed, data and settings train the same weights. */
        public Builder seed(long value) {
            this.seed = value;
            return this;
        }

        public Builder targets(TargetProvider provider) {
            this.targets = provider;
            return this;
        }

        public Builder listener(Listener listener) {
            listeners.add(Objects.requireNonNull(listener, "listener"));
            return this;
        }

        public Builder cancellation(Cancellation value) {
            this.cancellation = Objects.requireNonNull(value, "cancellation");
            return this;
        }

        public Builder sessionOptions(SessionOptions value) {
            this.sessionOptions = Objects.requireNonNull(value, "sessionOptions");
            return this;
        }

        public Trainer build() {
            return new Trainer(this);
        }
    }
}
