package io.modelrefinery.host.eval;

import io.modelrefinery.api.data.Batch;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.DatasetReader;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.data.InvalidDataException;
import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.Progress;
import io.modelrefinery.host.ort.ProbeRun;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;

/**
 * Compares an optimized model with its original on evaluation samples: accuracy of both when the
 * samples have labels, fidelity of the optimized outputs to the original ones, and the latency of each
 * (see {@link LatencyComparison}). Samples are streamed in batches the model takes (its fixed batch size,
 * else {@link Settings#batchSize()}); memory does not grow with their number. Without samples only latency
 * is measured, on generated inputs.
 */
public final class Evaluator {
    /**
     * How much to measure.
     *
     * @param batchSize samples per run when scoring (models with a fixed batch dimension use theirs)
     * @param maxSamples score at most this many samples; 0 for all
     * @param latencyRuns the fewest pairs of timed runs (one run of each model per pair)
     * @param warmupRuns untimed runs of each model before timing
     * @param latencyBudgetMillis time after which pairs stop once {@code latencyRuns} are timed, even if the
     *     ratio is not yet stable
     * @param latencyBatch samples per timed run for a model whose batch dimension is symbolic (a fixed one
     *     is honoured)
     */
    public record Settings(int batchSize, long maxSamples, int latencyRuns, int warmupRuns, long latencyBudgetMillis,
                           int latencyBatch) {
        /** Default {@link #latencyBudgetMillis}: cheap next to any transform, enough for a stable ratio. */
        public static final long DEFAULT_LATENCY_BUDGET_MILLIS = 3000;

        public Settings {
            if (batchSize < 1 || maxSamples < 0 || latencyRuns < 1 || warmupRuns < 0 || latencyBudgetMillis < 0
                    || latencyBatch < 1) {
                throw new IllegalArgumentException("invalid evaluation settings: " + batchSize + ", " + maxSamples
                        + ", " + latencyRuns + ", " + warmupRuns + ", " + latencyBudgetMillis + ", " + latencyBatch);
            }
        }

        /** The default latency budget, one sample per timed run. */
        public Settings(int batchSize, long maxSamples, int latencyRuns, int warmupRuns) {
            this(batchSize, maxSamples, latencyRuns, warmupRuns, DEFAULT_LATENCY_BUDGET_MILLIS, 1);
        }

        public static Settings defaults() {
            return new Settings(64, 0, 20, 3);
        }

        public Settings withMaxSamples(long samples) {
            return new Settings(batchSize, samples, latencyRuns, warmupRuns, latencyBudgetMillis, latencyBatch);
        }

        public Settings withLatencyBudget(long millis, int batch) {
            return new Settings(batchSize, maxSamples, latencyRuns, warmupRuns, millis, batch);
        }

        /**
         * The runs this evaluation makes of a model in the host's process, besides a deployer's: scoring at
         * {@link #batchSize} with default session options (when there are samples to score), timing at
         * {@link #latencyBatch} on {@link #LATENCY_THREADS} intra-op thread. The output check makes them first in
         * its child process, so that a model that crashes ONNX Runtime only so fails its step instead of taking
         * the host down.
         *
         * @param scoring whether the evaluation scores samples (else it only times the model)
         */
        public List<ProbeRun> probeRuns(boolean scoring) {
            ProbeRun timing = new ProbeRun(latencyBatch, LATENCY_THREADS);
            return scoring ? List.of(new ProbeRun(batchSize, 0), timing) : List.of(timing);
        }
    }

    private final InferenceService inference;
    private final Settings settings;
    private final Progress progress;
    private final Cancellation cancellation;

    public Evaluator(InferenceService inference, Settings settings, Progress progress, Cancellation cancellation) {
        this.inference = inference;
        this.settings = settings;
        this.progress = progress;
        this.cancellation = cancellation;
    }

    /**
     * Evaluates {@code after} against {@code before}.
     *
     * @param samples evaluation samples, or {@code null} to measure latency only
     * @throws InvalidDataException if the samples do not fit the original model, or their labels do not
     *     fit its output
     */
    public Evaluation evaluate(OnnxModel before, OnnxModel after, Dataset samples) {
        try (Reference reference = reference(before, samples)) {
            return withLatency(reference, after, score(reference, after));
        }
    }

    /**
     * The original model opened once for many candidates (the {@code auto} search): its sessions for scoring
     * and for timing, and the inputs it is timed on. Sessions are safe to run from several threads at once.
     * Close it when the last candidate is evaluated.
     */
    public final class Reference implements AutoCloseable {
        private final OnnxModel model;
        private final Dataset samples;
        private final InferenceSession scoring;
        private final InferenceSession timing;
        private final ClassDecision decision;
        private final int batch;
        private final List<Batch> latencyInputs;

        private Reference(OnnxModel model, Dataset samples) {
            this.model = model;
            this.samples = samples;
            InferenceSession opened = inference.open(model);
            try {
                if (samples != null) {
                    Datasets.requireFits(samples, opened.inputs());
                }
                decision = ClassDecision.of(model, opened.outputs().get(0));
                batch = Datasets.batchSize(opened.inputs(), settings.latencyBatch());
                latencyInputs = latencyInputs(opened.inputs(), samples, batch);
                timing = inference.open(model, SessionOptions.defaults().withIntraOpThreads(LATENCY_THREADS));
            } catch (RuntimeException e) {
                opened.close();
                throw e;
            }
            this.scoring = opened;
        }

        public OnnxModel model() {
            return model;
        }

        @Override
        public void close() {
            try (InferenceSession a = scoring; InferenceSession b = timing) {
                // both closed, the second even if the first fails
            }
        }
    }

    /**
     * Opens {@code before} for evaluating candidates against it.
     *
     * @param samples evaluation samples, or {@code null} to measure latency only
     * @throws InvalidDataException if the samples do not fit the model
     */
    public Reference reference(OnnxModel before, Dataset samples) {
        return new Reference(before, samples);
    }

    /**
     * Accuracy and fidelity of {@code after} against the reference, without latency: what a candidate that
     * may fail a quality gate is measured on first, so that one that fails is never timed.
     */
    public Evaluation score(Reference reference, OnnxModel after) {
        try (InferenceSession candidate = inference.open(after)) {
            requireSameInterface(reference.scoring, candidate);
            Scores scores = reference.samples == null ? null
                    : score(reference.scoring, candidate, reference.samples, reference.decision);
            return new Evaluation(scores == null ? 0 : scores.samples, reference.scoring.device().id(),
                    scores == null ? null : scores.accuracyBefore(), scores == null ? null : scores.accuracyAfter(),
                    scores == null ? null : scores.fidelity.sqnrDb(), scores == null ? null : scores.fidelity.cosine(),
                    scores == null ? null : scores.top1Agreement(), null, null, null, null, List.of(), null);
        }
    }

    /** {@code scored} (from {@link #score}) with the latency of {@code after} against the reference's. */
    public Evaluation withLatency(Reference reference, OnnxModel after, Evaluation scored) {
        LatencyComparison latency = time(reference, after);
        if (!latency.withinNoise()) {
            LatencyComparison second = time(reference, after);
            latency = closerToEven(latency, second);
        }
        return new Evaluation(scored.samples(), scored.device(), scored.accuracyBefore(), scored.accuracyAfter(),
                scored.sqnrDb(), scored.cosine(), scored.top1Agreement(), latency.p50Before(), latency.p50After(),
                latency.p95Before(), latency.p95After(), scored.gates(), latency.figures());
    }

    /**
     * Times the candidate against the reference, each on one intra-op thread. With ONNX Runtime's
     * default thread pool every session has its own worker threads, and on a busy machine one session's
     * workers can be scheduled worse than the other's for a whole measurement (an unchanged model measured
     * 1.88x and 0.38x the original's on the 2-core build machine); on the calling thread alone both models
     * see the same scheduling, which is what a paired comparison needs. The candidate gets a fresh session
     * each time; the reference's is reused.
     */
    private LatencyComparison time(Reference reference, OnnxModel after) {
        SessionOptions timing = SessionOptions.defaults().withIntraOpThreads(LATENCY_THREADS);
        try (InferenceSession candidate = inference.open(after, timing)) {
            List<Batch> inputs = reference.latencyInputs;
            return LatencyComparison.measure(reference.timing, candidate,
                    inputs.stream().map(b -> feeds(b, reference.timing.inputs())).toList(),
                    inputs.stream().map(b -> feeds(b, candidate.inputs())).toList(), reference.batch, settings,
                    progress, cancellation);
        }
    }

    /**
     * Of two measurements in fresh sessions, the one closer to "as fast". A verdict other than "as fast"
     * is measured twice: a real difference shows both times, a scheduling accident seldom does.
     */
    private static LatencyComparison closerToEven(LatencyComparison first, LatencyComparison second) {
        return Math.abs(Math.log(second.estimate().ratio())) < Math.abs(Math.log(first.estimate().ratio()))
                ? second : first;
    }

    private static void requireSameInterface(InferenceSession before, InferenceSession after) {
        List<String> in = before.inputs().stream().map(TensorInfo::name).toList();
        List<String> afterIn = after.inputs().stream().map(TensorInfo::name).toList();
        if (!in.equals(afterIn)) {
            throw new InvalidDataException("the optimized model's inputs " + afterIn + " differ from the original's " + in
                    + "; it cannot be compared on the same samples");
        }
        String out = before.outputs().get(0).name();
        if (after.outputs().stream().noneMatch(o -> o.name().equals(out))) {
            throw new InvalidDataException("the optimized model has no output '" + out + "' to compare with the original's");
        }
    }

    /** Running totals of one pass over the samples. */
    private static final class Scores {
        final Fidelity fidelity = new Fidelity();
        long samples;
        long correctBefore;
        long correctAfter;
        long agreeing;
        boolean labelled;

        Double accuracyBefore() {
            return labelled ? (double) correctBefore / samples : null;
        }

        Double accuracyAfter() {
            return labelled ? (double) correctAfter / samples : null;
        }

        Double top1Agreement() {
            return samples == 0 ? null : (double) agreeing / samples;
        }
    }

    private Scores score(InferenceSession reference, InferenceSession candidate, Dataset samples, ClassDecision decision) {
        Scores scores = new Scores();
        scores.labelled = samples.labels().isPresent();
        long total = settings.maxSamples() > 0 ? Math.min(settings.maxSamples(), samples.size()) : samples.size();
        String output = reference.outputs().get(0).name();
        List<String> compared = comparedOutputs(reference, candidate);
        List<String> scored = new ArrayList<>(compared);
        if (!scored.contains(output)) {
            scored.add(output);
        }
        // Batches the model takes: of its fixed batch size (a last partial batch left out), else of ours.
        Datasets.forEachModelBatch(samples, reference.inputs(), settings.batchSize(), total,
                cancellation::throwIfCancelled, (batch, offset, count) -> {
                    Map<String, Tensor> before = reference.run(feeds(batch, reference.inputs()), scored);
                    Map<String, Tensor> after = candidate.run(feeds(batch, candidate.inputs()), scored);
                    for (String name : compared) {
                        scores.fidelity.add(before.get(name).toFloatArray(), after.get(name).toFloatArray());
                    }
                    int[] predictedBefore = decision.classes(before.get(output), batch.size());
                    int[] predictedAfter = decision.classes(after.get(output), batch.size());
                    int[] labels = scores.labelled ? decision.labels(batch.labels().orElseThrow(), batch.size(),
                            ClassDecision.width(before.get(output), batch.size()), offset, samples.source()) : null;
                    for (int i = 0; i < batch.size(); i++) {
                        scores.agreeing += predictedBefore[i] == predictedAfter[i] ? 1 : 0;
                        if (labels != null) {
                            scores.correctBefore += predictedBefore[i] == labels[i] ? 1 : 0;
                            scores.correctAfter += predictedAfter[i] == labels[i] ? 1 : 0;
                        }
                    }
                    scores.samples += batch.size();
                    progress.update(scores.samples, count, "evaluating");
                });
        return scores;
    }

    /** Floating-point outputs both models have: the ones whose fidelity means something. */
    private static List<String> comparedOutputs(InferenceSession reference, InferenceSession candidate) {
        List<String> names = new ArrayList<>();
        for (TensorInfo out : reference.outputs()) {
            boolean inBoth = candidate.outputs().stream().anyMatch(o -> o.name().equals(out.name())
                    && o.type().isFloatingPoint());
            if (out.type().isFloatingPoint() && inBoth) {
                names.add(out.name());
            }
        }
        if (names.isEmpty()) {
            names.add(reference.outputs().get(0).name());
        }
        return names;
    }

    /** The batch's arrays for {@code inputs}, converted where a model takes another floating-point type (fp16). */
    static Map<String, Tensor> feeds(Batch batch, List<TensorInfo> inputs) {
        Map<String, Tensor> feeds = new LinkedHashMap<>();
        for (TensorInfo input : inputs) {
            Tensor array = batch.get(input.name());
            if (array.type() != input.type() && array.type().isFloatingPoint() && input.type().isFloatingPoint()) {
                array = Tensor.fromDoubles(input.type(), array.shape(), array.toDoubleArray());
            }
            feeds.put(input.name(), array);
        }
        return feeds;
    }

    /** Intra-op threads of the timing sessions: see {@link #time}. */
    static final int LATENCY_THREADS = 1;

    /** Distinct batches the timing cycles over: enough that one lucky input does not decide the ratio. */
    private static final int LATENCY_BATCHES = 8;

    /**
     * Batches of {@code batch} samples to time the models on: the first samples when there are enough of
     * them, else generated inputs of the model's shape.
     */
    private static List<Batch> latencyInputs(List<TensorInfo> inputs, Dataset samples, int batch) {
        List<Batch> batches = new ArrayList<>();
        if (samples != null && samples.size() >= batch) {
            try (DatasetReader reader = samples.open()) {
                while (batches.size() < LATENCY_BATCHES) {
                    Optional<Batch> next = reader.next(batch);
                    if (next.isEmpty() || next.get().size() < batch) {
                        break;
                    }
                    batches.add(next.get());
                }
            }
        }
        if (batches.isEmpty()) {
            batches.add(new Batch(batch, generatedInputs(inputs, batch)));
        }
        return batches;
    }

    /** The most values one generated input may hold: a model wanting more needs real samples. */
    static final long MAX_GENERATED_VALUES = 1L << 28;

    /** One input of each model input's shape (dynamic dimensions as 1), random values in [0, 1). */

    public static Map<String, Tensor> generatedInputs(List<TensorInfo> inputs) {
        return generatedInputs(inputs, 1);
    }

    /**
     * Inputs of each model input's shape, a symbolic first (batch) dimension as {@code batch} and other
     * symbolic ones as 1, random values in [0, 1).
     */
    public static Map<String, Tensor> generatedInputs(List<TensorInfo> inputs, int batch) {
        Random random = new Random(7);
        Map<String, Tensor> feeds = new LinkedHashMap<>();
        for (TensorInfo input : inputs) {
            long[] shape = input.shape().clone();
            long count = 1;
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shape[i] > 0 ? shape[i] : i == 0 ? batch : 1;
                if (shape[i] > MAX_GENERATED_VALUES / count) {
                    throw new InvalidDataException("cannot generate inputs for input '" + input.name() + "' of shape "
                            + input.shapeString() + ": more than " + MAX_GENERATED_VALUES + " values; give evaluation "
                            + "samples");
                }
                count *= shape[i];
            }
            double[] values = new double[(int) count];
            if (input.type().isFloatingPoint()) {
                for (int i = 0; i < values.length; i++) {
                    values[i] = random.nextDouble();
                }
            }
            if (input.type() == DataType.STRING) {
                throw new InvalidDataException("cannot generate inputs for string input '" + input.name()
                        + "'; give evaluation samples");
            }
            feeds.put(input.name(), Tensor.fromDoubles(input.type(), shape, values));
        }
        return feeds;
    }
}
