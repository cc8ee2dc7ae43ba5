package io.modelrefinery.testkit;

import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.FileArtifact;
import io.modelrefinery.api.plugin.InvalidParamException;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.OnnxArtifact;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.ParamValidator;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformCancelledException;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformResult;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.PipelineRunner;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * The rules every transform must keep, each a method that fails (with a JUnit assertion error saying what
 * broke and how to fix it) when the transform breaks it. {@link TransformConformanceTest} runs them as
 * tests; call them directly to combine them with your own.
 *
 * <p>Transforms run as the host runs them: parameters parsed by {@link Params#parse} from pipeline text,
 * inputs loaded from files, sessions from the host's ONNX Runtime on the CPU, outputs through the host's
 * own output check ({@link PipelineRunner#checkOutput}).
 */
public final class ConformanceChecks {
    private static final String UNKNOWN_PARAM = "no-such-parameter";

    private final ModelTransform transform;
    private final List<ConformanceCase> cases;
    private final List<Map<String, String>> invalidParams;
    private final Duration cancellationBound;
    private final Path workDir;
    private final InferenceService inference;
    private final AtomicInteger runs = new AtomicInteger();

    /**
     * @param transform the transform under test
     * @param cases inputs to run it on; empty for the default ONNX models
     * @param invalidParams parameter sets, as a pipeline would write them, that the spec must refuse
     * @param cancellationBound how long a cancelled transform may take to stop
     * @param workDir an empty folder for inputs, scratch folders and ONNX Runtime files
     */
    public ConformanceChecks(ModelTransform transform, List<ConformanceCase> cases, List<Map<String, String>> invalidParams,
                             Duration cancellationBound, Path workDir) {
        this.transform = Objects.requireNonNull(transform, "transform");
        this.cases = cases.isEmpty() ? defaultCases(transform) : List.copyOf(cases);
        this.invalidParams = List.copyOf(invalidParams);
        this.cancellationBound = cancellationBound;
        this.workDir = workDir;
        this.inference = new OrtRuntime().service(Device.CPU, workDir.resolve("ort"));
    }

    /** The sample CNN and a tiny MLP with default parameters, for transforms that read ONNX. */
    static List<ConformanceCase> defaultCases(ModelTransform transform) {
        if (!transform.descriptor().accepts(ModelFormat.ONNX)) {
            fail("'" + transform.descriptor().id() + "' does not read ONNX: override cases() with inputs in "
                    + transform.descriptor().inputFormats());
        }
        return List.of(ConformanceCase.onnx("sample-cnn", ConformanceModels.sampleCnn()),
                ConformanceCase.onnx("mlp", ConformanceModels.mlp()));
    }

    // ------------------------------------------------------------------------------------------ the rules

    /**
     * The descriptor is complete, stable and cheap, and documents its parameters: a summary and every
     * parameter's documentation are sentences, every case's input format and parameters are accepted, and
     * cases bring the data the transform requires with their parameters.
     */
    public void descriptorIsCompleteAndDocumented() {
        TransformDescriptor d = transform.descriptor();
        if (d == null) {
            fail("descriptor() returned null");
        }
        String id = d.id();
        TransformDescriptor again = transform.descriptor();
        if (!fingerprint(d).equals(fingerprint(again))) {
            fail("'" + id + "': descriptor() must return the same value every time, got " + fingerprint(d) + " then "
                    + fingerprint(again));
        }
        long start = System.nanoTime();
        for (int i = 0; i < 1000; i++) {
            transform.descriptor();
        }
        long micros = (System.nanoTime() - start) / 1000 / 1000;
        if (micros > 1000) {
            fail("'" + id + "': descriptor() took " + micros + " µs per call; it must not do work: build the descriptor once");
        }
        if (words(d.summary()) < 3) {
            fail("'" + id + "': the summary must say in a sentence what the transform does, not '" + d.summary() + "'");
        }
        for (ParamSpec<?> spec : d.params()) {
            String doc = spec.documentation();
            if (words(doc) < 3 || doc.strip().equalsIgnoreCase(spec.name())) {
                fail("'" + id + "': parameter '" + spec.name() + "' is not documented: its doc must say in a sentence "
                        + "what it does, not '" + doc + "'");
            }
        }
        for (ConformanceCase c : cases) {
            if (!d.accepts(c.format())) {
                fail("'" + id + "' does not accept case " + c + "'s format " + c.format() + " (accepts "
                        + d.inputFormats() + ")");
            }
            Params params = null;
            try {
                params = Params.parse(d, c.params());
            } catch (InvalidParamException e) {
                fail("'" + id + "' refuses the parameters of case " + c + ": " + e.getMessage()
                        + (d.params().stream().anyMatch(ParamSpec::required) ? " (override cases() to set required parameters)" : ""));
            }
            for (DataRole role : d.requiredData(params)) {
                if (!c.has(role)) {
                    fail("'" + id + "' requires " + role.label() + " data; case " + c + " brings none: use withData");
                }
            }
        }
    }

    /**
     * {@code apply} never changes its input: neither the model it is handed nor any file of it (the ONNX file,
     * its external data, a converter's input file).
     */
    public void inputIsNeverMutated() {
        for (ConformanceCase c : cases) {
            Path folder = workDir.resolve("mutation-" + runs.incrementAndGet());
            ModelArtifact input = materialize(c, folder);
            Map<String, String> filesBefore = digests(folder);
            String modelBefore = input instanceof OnnxArtifact o ? sha256(o.model().proto().toByteArray()) : null;

            apply(c, input, Cancellation.never());

            Map<String, String> filesAfter = digests(folder);
            if (!filesBefore.equals(filesAfter)) {
                List<String> changed = new ArrayList<>();
                for (String f : union(filesBefore, filesAfter)) {
                    if (!Objects.equals(filesBefore.get(f), filesAfter.get(f))) {
                        changed.add(f + (filesAfter.containsKey(f) ? filesBefore.containsKey(f) ? " changed" : " added" : " deleted"));
                    }
                }
                fail("'" + transform.descriptor().id() + "' changed its input on case " + c + ": " + changed
                        + "; build a new model and write temporary files under context.scratchDirectory()");
            }
            if (modelBefore != null && !modelBefore.equals(sha256(((OnnxArtifact) input).model().proto().toByteArray()))) {
                fail("'" + transform.descriptor().id() + "' changed the input model in memory on case " + c);
            }
        }
    }

    /** The same input and parameters give a byte-identical output, every time (no clocks, no randomness, no hash order). */
    public void sameInputAndParamsGiveIdenticalOutput() {
        for (ConformanceCase c : cases) {
            Path folder = workDir.resolve("determinism-" + runs.incrementAndGet());
            byte[] first = bytes(apply(c, materialize(c, folder), Cancellation.never()).output());
            byte[] second = bytes(apply(c, materialize(c, folder), Cancellation.never()).output());
            if (!java.util.Arrays.equals(first, second)) {
                int at = 0;
                while (at < Math.min(first.length, second.length) && first[at] == second[at]) {
                    at++;
                }
                fail("'" + transform.descriptor().id() + "' gave different outputs for the same input and parameters on case "
                        + c + ": " + first.length + " and " + second.length + " bytes, first difference at byte " + at
                        + "; seed any randomness, keep clocks and hash-map order out of the model");
            }
        }
    }

    /**
     * A cancelled transform stops within the bound: cancelled before it starts, it throws
     * {@link TransformCancelledException} (it checks at least once); cancelled half way through a run, it
     * ends, one way or the other, within the bound.
     */
    public void cancellationIsHonouredWithinBound() {
        String id = transform.descriptor().id();
        for (ConformanceCase c : cases) {
            Path folder = workDir.resolve("cancel-" + runs.incrementAndGet());
            Bounded before = bounded(c, materialize(c, folder), () -> true, cancellationBound);
            if (before.timedOut) {
                fail("'" + id + "' was still running " + millis(cancellationBound) + " after its job was cancelled (case " + c
                        + "): check context.cancellation() between units of work");
            }
            if (before.error == null) {
                fail("'" + id + "' returned a result although its job was cancelled before the step started (case " + c
                        + "): call context.cancellation().throwIfCancelled() between units of work");
            }
            if (!(before.error instanceof TransformCancelledException)) {
                fail("'" + id + "' answered a cancellation with " + before.error + " instead of TransformCancelledException"
                        + " (case " + c + ")");
            }
            long start = System.nanoTime();
            apply(c, materialize(c, folder), Cancellation.never());
            Duration full = Duration.ofNanos(System.nanoTime() - start);
            if (full.toMillis() >= 20) {
                long cancelAt = System.nanoTime() + full.toNanos() / 2;
                Bounded midway = bounded(c, materialize(c, folder), () -> System.nanoTime() >= cancelAt,
                        full.dividedBy(2).plus(cancellationBound));
                if (midway.timedOut) {
                    fail("'" + id + "' was still running " + millis(cancellationBound) + " after its job was cancelled half "
                            + "way through a " + millis(full) + " run (case " + c + "): check context.cancellation() more often");
                }
                if (midway.error != null && !(midway.error instanceof TransformCancelledException)) {
                    fail("'" + id + "' answered a cancellation with " + midway.error + " instead of TransformCancelledException"
                            + " (case " + c + ")");
                }
            }
        }
    }

    /**
     * Parameter values the transform cannot work with are refused by its parameter spec, so the host refuses
     * the pipeline before any work, with a message naming the parameter: the given invalid sets, values of
     * the wrong type, values just outside a declared range, and unknown names.
     */
    public void invalidParamsAreRejectedBeforeWork() {
        TransformDescriptor d = transform.descriptor();
        ConformanceCase first = cases.get(0);
        for (Map<String, String> invalid : invalidSets(d)) {
            Map<String, String> raw = new LinkedHashMap<>(first.params());
            raw.putAll(invalid);
            Params params;
            try {
                params = Params.parse(d, raw);
            } catch (InvalidParamException e) {
                if (invalid.keySet().stream().noneMatch(name -> e.getMessage().contains(name))) {
                    fail("'" + d.id() + "' refused " + invalid + " with a message that does not name the parameter: "
                            + e.getMessage());
                }
                continue;
            }
            String then;
            Bounded run = bounded(first, materialize(first, workDir.resolve("invalid-" + runs.incrementAndGet())),
                    Cancellation.never(), params, Duration.ofMinutes(2));
            if (run.timedOut) {
                then = "apply was still working on it after 2 minutes";
            } else if (run.error != null) {
                then = "apply failed only after " + run.millis + " ms of work: " + run.error;
            } else {
                then = "apply even returned a model";
            }
            fail("'" + d.id() + "' accepts " + invalid + ", so the host would start a job with it; " + then
                    + ". Declare the constraint in the ParamSpec (a validator or a choice) so that it is refused before any work");
        }
    }

    /**
     * The output passes the host's own check of every step: the declared output format, ONNX structural
     * validation, loading in ONNX Runtime and one run there.
     */
    public void outputPassesHostValidation() {
        TransformDescriptor d = transform.descriptor();
        for (ConformanceCase c : cases) {
            ModelArtifact input = materialize(c, workDir.resolve("output-" + runs.incrementAndGet()));
            TransformResult result = apply(c, input, Cancellation.never());
            try {
                PipelineRunner.checkOutput(result.output(), d, inference, input);
            } catch (IllegalStateException e) {
                fail("'" + d.id() + "' on case " + c + ": " + e.getMessage());
            }
        }
    }

    // ------------------------------------------------------------------------------------------ running

    private ModelArtifact materialize(ConformanceCase c, Path folder) {
        try {
            return c.materialize(folder.resolve("input"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the input of case " + c, e);
        }
    }

    private ConformanceContext context(ConformanceCase c, Cancellation cancellation) {
        try {
            Path scratch = Files.createDirectories(workDir.resolve("scratch-" + runs.incrementAndGet()));
            return new ConformanceContext(inference, c.jobData(), cancellation, scratch, transform.descriptor().id());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Runs the case as the host would; a failure here is the transform failing on a valid case. */
    private TransformResult apply(ConformanceCase c, ModelArtifact input, Cancellation cancellation) {
        Params params = Params.parse(transform.descriptor(), c.params());
        TransformResult result;
        try {
            result = transform.apply(context(c, cancellation), input, params);
        } catch (RuntimeException e) {
            throw new AssertionError("'" + transform.descriptor().id() + "' failed on case " + c + ": " + e, e);
        }
        if (result == null) {
            fail("'" + transform.descriptor().id() + "' returned null on case " + c);
        }
        return result;
    }

    /** How a bounded run ended. */
    private record Bounded(boolean timedOut, TransformResult result, Throwable error, long millis) {
    }

    private Bounded bounded(ConformanceCase c, ModelArtifact input, Cancellation cancellation, Duration limit) {
        return bounded(c, input, cancellation, Params.parse(transform.descriptor(), c.params()), limit);
    }

    /** Runs apply on its own thread for at most {@code limit}; a run past it is interrupted and left behind. */
    private Bounded bounded(ConformanceCase c, ModelArtifact input, Cancellation cancellation, Params params, Duration limit) {
        AtomicBoolean cancelledByLimit = new AtomicBoolean();
        ConformanceContext context = context(c, () -> cancelledByLimit.get() || cancellation.isCancelled());
        FutureTask<TransformResult> task = new FutureTask<>(() -> transform.apply(context, input, params));
        Thread thread = new Thread(task, "conformance-" + transform.descriptor().id());
        thread.setDaemon(true);
        long start = System.nanoTime();
        thread.start();
        try {
            TransformResult result = task.get(limit.toNanos(), TimeUnit.NANOSECONDS);
            return new Bounded(false, result, null, (System.nanoTime() - start) / 1_000_000);
        } catch (TimeoutException e) {
            cancelledByLimit.set(true);
            thread.interrupt();
            return new Bounded(true, null, null, limit.toMillis());
        } catch (ExecutionException e) {
            return new Bounded(false, null, e.getCause(), (System.nanoTime() - start) / 1_000_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    // ------------------------------------------------------------------------------------------ helpers

    /** The given invalid sets, then one per parameter of the wrong type or just out of range, then an unknown name. */
    private List<Map<String, String>> invalidSets(TransformDescriptor d) {
        List<Map<String, String>> sets = new ArrayList<>(invalidParams);
        for (ParamSpec<?> spec : d.params()) {
            switch (spec.type()) {
                case INT -> sets.add(Map.of(spec.name(), "1.5x"));
                case DOUBLE -> sets.add(Map.of(spec.name(), "not-a-number"));
                case BOOLEAN -> sets.add(Map.of(spec.name(), "maybe"));
                case CHOICE -> sets.add(Map.of(spec.name(), "no-such-choice"));
                case MAP -> sets.add(Map.of(spec.name(), "[not-a-pair]"));
                default -> { }
            }
            if (spec.type() == ParamSpec.Type.STRING && !spec.allowedValues().isEmpty()) {
                sets.add(Map.of(spec.name(), "no-such-value"));
            }
            if (spec.type() == ParamSpec.Type.INT || spec.type() == ParamSpec.Type.DOUBLE) {
                for (String outside : outsideRange(spec)) {
                    sets.add(Map.of(spec.name(), outside));
                }
            }
            if (spec.type() == ParamSpec.Type.MAP) {
                for (String outside : outsideRange(spec)) {
                    sets.add(Map.of(spec.name(), "[conformance-probe=" + outside + "]"));
                }
            }
        }
        sets.add(Map.of(UNKNOWN_PARAM, "1"));
        return sets;
    }

    /**
     * Values just outside the range a numeric parameter declares ({@code [0, 1)} gives -1e-9 and 1), if it
     * declares one: read from the validator's {@link ParamSpec#range()}, not from its description.
     */
    private static List<String> outsideRange(ParamSpec<?> spec) {
        Optional<ParamValidator.Range> declared = spec.range();
        if (declared.isEmpty()) {
            return List.of();
        }
        ParamValidator.Range range = declared.get();
        List<String> out = new ArrayList<>();
        boolean integer = spec.type() == ParamSpec.Type.INT;
        if (!Double.isInfinite(range.min())) {
            double low = range.min();
            boolean closed = range.minClosed();
            out.add(integer ? Long.toString((long) Math.ceil(low) - (closed ? 1 : 0))
                    : Double.toString(closed ? Math.nextDown(low) : low));
        }
        if (!Double.isInfinite(range.max())) {
            double high = range.max();
            boolean closed = range.maxClosed();
            out.add(integer ? Long.toString((long) Math.floor(high) + (closed ? 1 : 0))
                    : Double.toString(closed ? Math.nextUp(high) : high));
        }
        return out;
    }

    private static String fingerprint(TransformDescriptor d) {
        return d.id() + " " + d.version() + " " + d.kind() + " " + d.inputFormats() + "->" + d.outputFormat() + " "
                + d.params().stream().map(p -> p.name() + ":" + p.type() + "=" + p.renderedDefault()).toList()
                + " " + d.requiredData();
    }

    private static int words(String text) {
        return text == null || text.isBlank() ? 0 : text.strip().split("\\s+").length;
    }

    private static String millis(Duration d) {
        return d.toMillis() + " ms";
    }

    private static byte[] bytes(ModelArtifact output) {
        if (output instanceof OnnxArtifact o) {
            return o.model().toByteArray();
        }
        try {
            return Files.readAllBytes(((FileArtifact) output).path());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static List<String> union(Map<String, String> a, Map<String, String> b) {
        TreeMap<String, String> all = new TreeMap<>(a);
        all.putAll(b);
        return new ArrayList<>(all.keySet());
    }

    /** SHA-256 of every file under {@code folder}, by relative path. */
    private static Map<String, String> digests(Path folder) {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> files = Files.walk(folder)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                out.put(folder.relativize(f).toString(), sha256(Files.readAllBytes(f)));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
