package io.modelrefinery.host.eval;

import io.modelrefinery.api.data.Batch;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.DatasetReader;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.data.InvalidDataException;
import io.modelrefinery.api.event.Evaluation;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.Progress;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;

/**
 * Compares an optimized model with its original on evaluation samples: accuracy of both when the
 * samples have labels, fidelity of the optimized outputs to the original ones, and the latency of one
 * sample through each. Samples are streamed batch by batch; memory does not grow with their number.
 * Without samples only latency is measured, on generated inputs.
 */
public final class Evaluator {
    /**
     * How much to measure.
     *
     * @param batchSize samples per run when scoring (models with a fixed batch dimension use theirs)
     * @param maxSamples score at most this many samples; 0 for all
     * @param latencyRuns timed single-sample runs of each model
     * @param warmupRuns untimed runs of each model before timing
     */
    public record Settings(int batchSize, long maxSamples, int latencyRuns, int warmupRuns) {
        public Settings {
            if (batchSize < 1 || maxSamples < 0 || latencyRuns < 1 || warmupRuns < 0) {
                throw new IllegalArgumentException("invalid evaluation settings: " + batchSize + ", " + maxSamples
                        + ", " + latencyRuns + ", " + warmupRuns);
            }
        }

        public static Settings defaults() {
            return new Settings(64, 0, 50, 3);
        }

        public Settings withMaxSamples(long samples) {
            return new Settings(batchSize, samples, latencyRuns, warmupRuns);
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
        try (InferenceSession reference = inference.open(before); InferenceSession candidate = inference.open(after)) {
            requireSameInterface(reference, candidate);
            Scores scores = null;
            List<Batch> latencyInputs;
            if (samples != null) {
                Datasets.requireFits(samples, reference.inputs());
                scores = score(reference, candidate, samples, ClassDecision.of(before, reference.outputs().get(0)));
                latencyInputs = firstSamples(samples, settings.latencyRuns());
            } else {
                latencyInputs = List.of(new Batch(1, generatedInputs(reference.inputs())));
            }
            Latency latency = Latency.measure(reference, candidate, latencyInputs, settings, progress, cancellation);
            return new Evaluation(scores == null ? 0 : scores.samples, reference.device().id(),
                    scores == null ? null : scores.accuracyBefore(), scores == null ? null : scores.accuracyAfter(),
                    scores == null ? null : scores.fidelity.sqnrDb(), scores == null ? null : scores.fidelity.cosine(),
                    scores == null ? null : scores.top1Agreement(), latency.p50Before(), latency.p50After(),
                    latency.p95Before(), latency.p95After(), List.of());
        }
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
        int batchSize = batchSize(reference.inputs());
        try (DatasetReader reader = samples.open()) {
            while (scores.samples < total) {
                cancellation.throwIfCancelled();
                Optional<Batch> next = reader.next((int) Math.min(batchSize, total - scores.samples));
                if (next.isEmpty()) {
                    break;
                }
                Batch batch = next.get();
                Map<String, Tensor> before = reference.run(feeds(batch, reference.inputs()), scored);
                Map<String, Tensor> after = candidate.run(feeds(batch, candidate.inputs()), scored);
                for (String name : compared) {
                    scores.fidelity.add(before.get(name).toFloatArray(), after.get(name).toFloatArray());
                }
                int[] predictedBefore = decision.classes(before.get(output), batch.size());
                int[] predictedAfter = decision.classes(after.get(output), batch.size());
                int[] labels = scores.labelled ? decision.labels(batch.labels().orElseThrow(), batch.size(),
                        ClassDecision.width(before.get(output), batch.size()), scores.samples, samples.source()) : null;
                for (int i = 0; i < batch.size(); i++) {
                    scores.agreeing += predictedBefore[i] == predictedAfter[i] ? 1 : 0;
                    if (labels != null) {
                        scores.correctBefore += predictedBefore[i] == labels[i] ? 1 : 0;
                        scores.correctAfter += predictedAfter[i] == labels[i] ? 1 : 0;
                    }
                }
                scores.samples += batch.size();
                progress.update(scores.samples, total, "evaluating");
            }
        }
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

    private int batchSize(List<TensorInfo> inputs) {
        for (TensorInfo input : inputs) {
            if (input.rank() > 0 && input.shape()[0] > 0) {
                return (int) input.shape()[0]; // a fixed batch dimension
            }
        }
        return settings.batchSize();
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

    /** The first {@code count} samples, one batch of one each, for timing (fewer when there are fewer). */
    private static List<Batch> firstSamples(Dataset samples, int count) {
        List<Batch> singles = new ArrayList<>();
        try (DatasetReader reader = samples.open()) {
            while (singles.size() < count) {
                Optional<Batch> next = reader.next(1);
                if (next.isEmpty()) {
                    break;
                }
                singles.add(next.get());
            }
        }
        return singles;
    }

    /** One input of each model input's shape (dynamic dimensions as 1), random values in [0, 1). */
    /** The most values one generated input holds (256 MiB of float32). */
    static final long MAX_GENERATED_VALUES = 1L << 26;

    public static Map<String, Tensor> generatedInputs(List<TensorInfo> inputs) {
        Random random = new Random(7);
        Map<String, Tensor> feeds = new LinkedHashMap<>();
        for (TensorInfo input : inputs) {
            long[] shape = input.shape().clone();
            long count = 1;
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shape[i] > 0 ? shape[i] : 1;
                count = count > MAX_GENERATED_VALUES ? count : count * shape[i];
            }
            if (count > MAX_GENERATED_VALUES) {
                throw new InvalidDataException("cannot generate inputs for input '" + input.name() + "' of shape "
                        + java.util.Arrays.toString(input.shape()) + ": over " + MAX_GENERATED_VALUES
                        + " values; give evaluation samples");
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
