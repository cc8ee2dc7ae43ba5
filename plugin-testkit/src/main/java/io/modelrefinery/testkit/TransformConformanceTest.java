package io.modelrefinery.testkit;

import io.modelrefinery.api.plugin.ModelTransform;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * The plugin conformance suite: extend it in your plugin's tests, return your transform, and each rule of the
 * {@link ModelTransform} contract runs as one test.
 *
 * <pre>{@code
 * class RoundWeightsConformanceTest extends TransformConformanceTest {
 *     protected ModelTransform transform() {
 *         return new RoundWeightsTransform();
 *     }
 *
 *     protected List<Map<String, String>> invalidParams() {
 *         return List.of(Map.of("bits", "0"));
 *     }
 * }
 * }</pre>
 *
 * <p>By default the transform runs on the sample CNN and a tiny MLP with its default parameters; override
 * {@link #cases()} for other inputs, parameters or data (a converter must). A new instance is made for each
 * test, with its own temporary folder.
 */
public abstract class TransformConformanceTest {
    /** Inputs, scratch folders and ONNX Runtime files of one test; JUnit deletes it afterwards. */
    @TempDir
    protected Path conformanceDir;

    /** The transform under test; a new instance each call is fine. */
    protected abstract ModelTransform transform();

    /** What to run the transform on; empty (the default) for the sample CNN and a tiny MLP with default parameters. */
    protected List<ConformanceCase> cases() {
        return List.of();
    }

    /**
     * Parameter sets, written as in a pipeline, that the transform cannot work with and its spec must
     * therefore refuse; wrong types, values just outside declared ranges and unknown names are tried anyway.
     */
    protected List<Map<String, String>> invalidParams() {
        return List.of();
    }

    /** How long the transform may take to stop once its job is cancelled. */
    protected Duration cancellationBound() {
        return Duration.ofSeconds(2);
    }

    /** The checks, for this test's transform, cases and folder. */
    protected ConformanceChecks checks() {
        return new ConformanceChecks(transform(), cases(), invalidParams(), cancellationBound(), conformanceDir);
    }

    @Test
    void descriptorIsCompleteAndDocumented() {
        checks().descriptorIsCompleteAndDocumented();
    }

    @Test
    void inputIsNeverMutated() {
        checks().inputIsNeverMutated();
    }

    @Test
    void sameInputAndParamsGiveIdenticalOutput() {
        checks().sameInputAndParamsGiveIdenticalOutput();
    }

    @Test
    void cancellationIsHonouredWithinBound() {
        checks().cancellationIsHonouredWithinBound();
    }

    @Test
    void invalidParamsAreRejectedBeforeWork() {
        checks().invalidParamsAreRejectedBeforeWork();
    }

    @Test
    void outputPassesHostValidation() {
        checks().outputPassesHostValidation();
    }
}
