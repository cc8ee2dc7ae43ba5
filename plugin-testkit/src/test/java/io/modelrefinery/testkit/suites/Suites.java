package io.modelrefinery.testkit.suites;

import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.testkit.ConformanceCase;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.TransformConformanceTest;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * Conformance suites the kit's own tests run through the JUnit engine: one per plugin, good or broken in one
 * way. Not named like tests, so that the build does not run them on their own.
 */
public final class Suites {
    private Suites() {
    }

    /** {@link KeepBitsTransform} with one defect, on the tiny MLP only (fast), refusing {@code bits=0}. */
    public abstract static class KeepBitsSuite extends TransformConformanceTest {
        abstract KeepBitsTransform.Defect defect();

        @Override
        protected ModelTransform transform() {
            return new KeepBitsTransform(defect());
        }

        @Override
        protected List<ConformanceCase> cases() {
            return List.of(ConformanceCase.onnx("mlp", ConformanceModels.mlp()).withParams(Map.of("bits", "6")));
        }

        @Override
        protected List<Map<String, String>> invalidParams() {
            return List.of(Map.of("bits", "0"));
        }

        @Override
        protected Duration cancellationBound() {
            return Duration.ofMillis(300);
        }
    }

    public static final class WellBehaved extends KeepBitsSuite {
        @Override
        KeepBitsTransform.Defect defect() {
            return KeepBitsTransform.Defect.NONE;
        }

        @Override
        protected List<ConformanceCase> cases() {
            return List.of(); // the default cases: the sample CNN and the MLP
        }
    }

    public static final class UndocumentedParam extends KeepBitsSuite {
        @Override
        KeepBitsTransform.Defect defect() {
            return KeepBitsTransform.Defect.UNDOCUMENTED_PARAM;
        }
    }

    public static final class Nondeterministic extends KeepBitsSuite {
        @Override
        KeepBitsTransform.Defect defect() {
            return KeepBitsTransform.Defect.NONDETERMINISTIC;
        }
    }

    public static final class IgnoresCancellation extends KeepBitsSuite {
        @Override
        KeepBitsTransform.Defect defect() {
            return KeepBitsTransform.Defect.IGNORES_CANCELLATION;
        }
    }

    public static final class ValidatesParamsLate extends KeepBitsSuite {
        @Override
        KeepBitsTransform.Defect defect() {
            return KeepBitsTransform.Defect.VALIDATES_PARAMS_LATE;
        }
    }

    /** No invalid sets of its own: the kit must find the bad values from the declared bounds alone. */
    public static final class DeclaresRangeItDoesNotCheck extends KeepBitsSuite {
        @Override
        KeepBitsTransform.Defect defect() {
            return KeepBitsTransform.Defect.DECLARES_RANGE_IT_DOES_NOT_CHECK;
        }

        @Override
        protected List<Map<String, String>> invalidParams() {
            return List.of();
        }
    }

    public static final class InvalidOutput extends KeepBitsSuite {
        @Override
        KeepBitsTransform.Defect defect() {
            return KeepBitsTransform.Defect.INVALID_OUTPUT;
        }
    }

    /** {@link BlobConverter} on a small file; {@code inPlace} edits that file. */
    public abstract static class BlobSuite extends TransformConformanceTest {
        abstract boolean inPlace();

        @Override
        protected ModelTransform transform() {
            return new BlobConverter(inPlace());
        }

        @Override
        protected List<ConformanceCase> cases() {
            try {
                Path blob = Files.writeString(Files.createDirectories(conformanceDir.resolve("fixtures")).resolve("model.blob"),
                        "blob model");
                return List.of(ConformanceCase.file("blob", blob, BlobConverter.BLOB));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    public static final class GoodConverter extends BlobSuite {
        @Override
        boolean inPlace() {
            return false;
        }
    }

    public static final class InputMutatingConverter extends BlobSuite {
        @Override
        boolean inPlace() {
            return true;
        }
    }
}
