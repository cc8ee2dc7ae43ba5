package io.modelrefinery.api.train;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.plugin.TransformCancelledException;
import io.modelrefinery.host.ort.OrtRuntime;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The trainer on small generated problems with known answers, in real ONNX Runtime sessions. */
class TrainerTest {
    @TempDir
    static Path dir;
    private static InferenceService ort;
    private static final float[] TRUE_WEIGHTS = {0.5f, -1f, 2f, 1.5f, 0f, -0.5f};

    @BeforeAll
    static void runtime() {
        ort = new OrtRuntime().service(Device.CPU, dir.resolve("ort"));
    }

    /** x [n, 3] and labels x @ W* [n, 2]: a least-squares problem whose optimum is W*. */
    private static Dataset regression(String name, int n) throws Exception {
        Random r = new Random(5);
        float[] x = new float[n * 3];
        float[] y = new float[n * 2];
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < 3; k++) {
                x[i * 3 + k] = (float) r.nextGaussian();
            }
            for (int j = 0; j < 2; j++) {
                for (int k = 0; k < 3; k++) {
                    y[i * 2 + j] += x[i * 3 + k] * TRUE_WEIGHTS[k * 2 + j];
                }
            }
        }
        Map<String, Tensor> arrays = new LinkedHashMap<>();
        arrays.put("x", Tensor.ofFloats(new long[] {n, 3}, x));
        arrays.put("labels", Tensor.ofFloats(new long[] {n, 2}, y));
        Path file = dir.resolve(name + ".npz");
        Datasets.writeNpz(file, arrays);
        return Datasets.open(file, "x");
    }

    private static OnnxModel linear() {
        return new GradientCheckTest.Net(4, 3).weight("w", 3, 2).node("MatMul", List.of("x", "w"), "y").model();
    }

    private static TrainingGraph graph(OnnxModel model, Loss loss) {
        return TrainingGraph.build(model, ort.valueTypes(model), loss, TrainingOptions.defaults());
    }

    @Test
    void sgdWithMomentumAndAdamFindTheLeastSquaresSolution() throws Exception {
        Dataset data = regression("fit", 512);
        for (Optimizer optimizer : List.of(Optimizer.sgd(0.05, 0.9, 0), Optimizer.adam(0.05))) {
            TrainingGraph graph = graph(linear(), Loss.meanSquaredError());
            Trainer.Result result = Trainer.builder(graph, ort).optimizer(optimizer).epochs(8).batchSize(16).build().fit(data);
            float[] w = result.parameters().get("w");
            for (int i = 0; i < w.length; i++) {
                assertEquals(TRUE_WEIGHTS[i], w[i], 0.02, optimizer.getClass().getSimpleName() + " w[" + i + "]");
            }
            List<Trainer.EpochStats> epochs = result.epochs();
            assertEquals(8, epochs.size());
            assertTrue(epochs.get(7).loss() < epochs.get(0).loss() / 10, epochs.toString());
            assertEquals(512, epochs.get(0).samples());
            assertEquals(32, epochs.get(0).steps());
            assertTrue(Double.isNaN(epochs.get(0).accuracy()), "MSE reports no accuracy");
            // The trained weights are in the returned inference model.
            assertArrayEquals(w, result.model().initializer("w").orElseThrow().toFloatArray());
        }
    }

    @Test
    void divergenceStopsTrainingWithAClearError() throws Exception {
        TrainingGraph graph = graph(linear(), Loss.meanSquaredError());
        Trainer trainer = Trainer.builder(graph, ort).optimizer(Optimizer.sgd(1e4, 0, 0)).epochs(5).build();
        TrainingDivergedException e = assertThrows(TrainingDivergedException.class, () -> trainer.fit(regression("diverge", 256)));
        assertTrue(e.getMessage().startsWith("training diverged: the "), e.getMessage());
        assertTrue(e.getMessage().endsWith("(learning rate 1.00e+04); lower the learning rate"), e.getMessage());
        assertFalse(e.retriable());
    }

    @Test
    void stepHookKeepsMasksAppliedAndSeesEveryStep() throws Exception {
        TrainingGraph graph = graph(linear(), Loss.meanSquaredError());
        AtomicInteger steps = new AtomicInteger();
        Trainer.Result result = Trainer.builder(graph, ort).optimizer(Optimizer.adam(0.1)).epochs(20).batchSize(100)
                .listener(new Trainer.Listener() {
                    @Override
                    public void afterStep(Trainer.Step step, Map<String, float[]> parameters) {
                        steps.incrementAndGet();
                        parameters.get("w")[0] = 0f; // a pruning mask on one weight
                    }
                }).build().fit(regression("mask", 250));
        assertEquals(60, steps.get());
        assertEquals(0f, result.model().initializer("w").orElseThrow().toFloatArray()[0]);
        assertEquals(TRUE_WEIGHTS[1], result.parameters().get("w")[1], 0.1);
    }

    @Test
    void sameSeedTrainsTheSameWeights() throws Exception {
        Dataset data = regression("seeded", 300);
        List<float[]> runs = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            TrainingGraph graph = graph(linear(), Loss.meanSquaredError());
            runs.add(Trainer.builder(graph, ort).optimizer(Optimizer.sgd(0.01, 0.9, 1e-4)).seed(42).shuffleWindow(128)
                    .build().fit(data).parameters().get("w"));
        }
        assertArrayEquals(runs.get(0), runs.get(1));
    }

    @Test
    void cancellationStopsBetweenSteps() throws Exception {
        TrainingGraph graph = graph(linear(), Loss.meanSquaredError());
        AtomicInteger steps = new AtomicInteger();
        Trainer trainer = Trainer.builder(graph, ort).optimizer(Optimizer.adam(0.01)).batchSize(10)
                .cancellation(() -> steps.get() >= 3)
                .listener(new Trainer.Listener() {
                    @Override
                    public void afterStep(Trainer.Step step, Map<String, float[]> parameters) {
                        steps.incrementAndGet();
                    }
                }).build();
        assertThrows(TransformCancelledException.class, () -> trainer.fit(regression("cancel", 100)));
        assertEquals(3, steps.get());
    }

    @Test
    void batchNormalizationUpdatesItsRunningStatistics() throws Exception {
        // Conv then BatchNormalization whose running statistics start far from the data's.
        OnnxModel model = new GradientCheckTest.Net(4, 3).weight("w", 3, 2).weight("scale", 2).weight("bias", 2)
                .weight("mean", 5.0, 6.0, 2).weight("var", 5.0, 6.0, 2)
                .node("MatMul", List.of("x", "w"), "m")
                .node("BatchNormalization", List.of("m", "scale", "bias", "mean", "var"), "y", attr("momentum", 0.5f))
                .model();
        TrainingGraph graph = graph(model, Loss.meanSquaredError());
        assertEquals(1, graph.runningStatistics().size());
        Trainer.Result result = Trainer.builder(graph, ort).optimizer(Optimizer.adam(0.01)).batchSize(50).epochs(2)
                .build().fit(regression("bn", 500));
        float[] mean = result.model().initializer("mean").orElseThrow().toFloatArray();
        float[] var = result.model().initializer("var").orElseThrow().toFloatArray();
        // Inputs are centred Gaussians: batch means near 0, after 20 updates at momentum 0.5 nothing of 5..6 is left.
        for (int c = 0; c < 2; c++) {
            assertTrue(Math.abs(mean[c]) < 0.5, "running mean " + mean[c]);
            assertTrue(var[c] > 0 && var[c] < 5, "running variance " + var[c]);
        }
        try (InferenceSession s = ort.open(result.model())) {
            float[] y = s.run(Map.of("x", Tensor.ofFloats(new long[] {1, 3}, 1, 2, 3))).get("y").toFloatArray();
            assertTrue(Float.isFinite(y[0]) && Float.isFinite(y[1]));
        }
    }
}
