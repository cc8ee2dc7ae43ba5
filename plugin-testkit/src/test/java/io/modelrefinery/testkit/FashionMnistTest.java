package io.modelrefinery.testkit;

import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.testdata.FashionMnist;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The sample model on its real test set reproduces the reference accuracy: the loader reads the right images. */
class FashionMnistTest {
    @TempDir
    Path dir;

    @Test
    void sampleModelScoresItsReferenceAccuracyOnTheTwoThousandTestImages() throws Exception {
        FashionMnist.assumeAvailable();
        FashionMnist.Samples test = FashionMnist.binary(FashionMnist.Split.TEST, Integer.MAX_VALUE);

        float[] probabilities;
        try (InferenceSession session = PluginHarness.inference(dir).open(ConformanceModels.sampleCnn())) {
            probabilities = session.run(Map.of("input", test.images())).get("output").toFloatArray();
        }
        long[] labels = test.labels().toLongArray();
        int correct = 0;
        for (int i = 0; i < labels.length; i++) {
            correct += (probabilities[i] >= 0.5f ? 1 : 0) == labels[i] ? 1 : 0;
        }

        assertEquals(2000, test.size());
        assertEquals(1000, java.util.Arrays.stream(labels).sum());
        assertEquals(0.9520, correct / 2000.0, 1e-9, "reference: 95.20%");
    }

    @Test
    void tenClassModelScoresItsReferenceAccuracyOnAllTenThousandTestImages() throws Exception {
        FashionMnist.assumeAvailable();
        FashionMnist.Samples test = FashionMnist.tenClass(FashionMnist.Split.TEST, Integer.MAX_VALUE);
        long[] perClass = new long[10];
        for (long label : test.labels().toLongArray()) {
            perClass[(int) label]++;
        }

        assertEquals(10000, test.size());
        assertEquals("[1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000]", java.util.Arrays.toString(perClass));
        // the arg max of the ten probabilities, as samples/README.md and docs/benchmarks.md report it
        assertEquals(88.78, test.percentCorrect(PluginHarness.inference(dir), ConformanceModels.tenClassCnn()),
                1e-9, "reference: 88.78%");
    }
}
