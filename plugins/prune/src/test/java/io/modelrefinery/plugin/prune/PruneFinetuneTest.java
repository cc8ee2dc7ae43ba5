package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.DataType;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.InvalidParamException;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.train.Loss;
import io.modelrefinery.api.train.NoGradientRuleException;
import io.modelrefinery.api.train.Optimizer;
import io.modelrefinery.api.train.Trainer;
import io.modelrefinery.api.train.TrainingDivergedException;
import io.modelrefinery.api.train.TrainingGraph;
import io.modelrefinery.api.train.TrainingOptions;
import io.modelrefinery.testkit.HarnessResult;
import io.modelrefinery.testkit.PluginHarness;
import io.modelrefinery.testkit.SampleData;
import io.modelrefinery.testkit.StepFailedException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static io.modelrefinery.api.onnx.OnnxHelper.attr;
import static io.modelrefinery.api.onnx.OnnxHelper.graph;
import static io.modelrefinery.api.onnx.OnnxHelper.model;
import static io.modelrefinery.api.onnx.OnnxHelper.node;
import static io.modelrefinery.api.onnx.OnnxHelper.valueInfo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Pruning while fine-tuning, on a generated classifier (x [n,8], MatMul w1 [8,16], Relu, Gemm w2 [3,16]
 * with transB, Softmax) and 640 random samples labelled by a fixed linear rule: the schedule's values, the
 * masks applied after every step of a real training run, the exact final sparsity through the pipeline
 * runner, and the refusals.
 */
class PruneFinetuneTest {
    @TempDir
    static Path dir;
    private static OnnxModel model;
    private static Dataset training;
    private static Path trainFile;
    private static InferenceService inference;

    @BeforeAll
    static void setUp() throws Exception {
        model = classifier("Relu");
        Random random = new Random(7);
        int n = 640;
        float[] x = new float[n * 8];
        long[] labels = new long[n];
        double[][] rule = new double[8][3];
        for (double[] row : rule) {
            for (int c = 0; c < 3; c++) {
                row[c] = random.nextGaussian();
            }
        }
        for (int i = 0; i < n; i++) {
            double[] score = new double[3];
            for (int k = 0; k < 8; k++) {
                x[i * 8 + k] = (float) random.nextGaussian();
                for (int c = 0; c < 3; c++) {
                    score[c] += x[i * 8 + k] * rule[k][c];
                }
            }
            labels[i] = score[0] >= score[1] && score[0] >= score[2] ? 0 : score[1] >= score[2] ? 1 : 2;
        }
        trainFile = dir.resolve("train.npz");
        Datasets.writeNpz(trainFile, Map.of("x", Tensor.ofFloats(new long[] {n, 8}, x),
                "labels", Tensor.ofLongs(new long[] {n}, labels)));
        training = Datasets.open(trainFile, "x");
        inference = PluginHarness.inference(dir.resolve("ort"));
    }

    /** The classifier with {@code activation} between its layers, weights from a fixed seed. */
    private static OnnxModel classifier(String activation) {
        Random random = new Random(3);
        float[] w1 = new float[8 * 16];
        float[] w2 = new float[3 * 16];
        for (int i = 0; i < w1.length; i++) {
            w1[i] = (float) (random.nextGaussian() * 0.35);
        }
        for (int i = 0; i < w2.length; i++) {
            w2[i] = (float) (random.nextGaussian() * 0.25);
        }
        return OnnxModel.of(model(graph("classifier",
                List.of(node("MatMul", List.of("x", "w1"), List.of("mm")),
                        node("Add", List.of("mm", "b1"), List.of("pre")),
                        node(activation, List.of("pre"), List.of("h")),
                        node("Gemm", List.of("h", "w2", "b2"), List.of("logits"), attr("transB", 1L)),
                        node("Softmax", List.of("logits"), List.of("y"), attr("axis", -1L))),
                List.of(valueInfo("x", DataType.FLOAT, -1, 8)),
                List.of(valueInfo("y", DataType.FLOAT, -1, 3)),
                List.of(Tensor.ofFloats(new long[] {8, 16}, w1).toProto("w1"),
                        Tensor.ofFloats(new long[] {16}, new float[16]).toProto("b1"),
                        Tensor.ofFloats(new long[] {3, 16}, w2).toProto("w2"),
                        Tensor.ofFloats(new long[] {3}, new float[3]).toProto("b2"))), 17));
    }

    private static HarnessResult run(String pipeline, Dataset trainingData) {
        return PluginHarness.of(new PruneTransform()).data(DataRole.TRAINING, trainingData).run(pipeline, model, dir);
    }

    private static long zeros(OnnxModel m, String name) {
        long n = 0;
        for (float v : m.initializer(name).orElseThrow().toFloatArray()) {
            n += v == 0 ? 1 : 0;
        }
        return n;
    }

    @Test
    void scheduleIsThePolynomialDecayOfTheSeed() {
        // TensorFlow Model Optimization's PolynomialDecay(0.5, 0.8, 0, 750, power=3, frequency=100)
        assertEquals(0.5, PruningSchedule.sparsityAt(0.5, 0.8, 0, 750, 3), 1e-12);
        assertEquals(0.8 - 0.3 * Math.pow(1 - 1 / 750.0, 3), PruningSchedule.sparsityAt(0.5, 0.8, 1, 750, 3), 1e-12);
        assertEquals(0.8 - 0.3 * 0.125, PruningSchedule.sparsityAt(0.5, 0.8, 375, 750, 3), 1e-12);
        assertEquals(0.8, PruningSchedule.sparsityAt(0.5, 0.8, 750, 750, 3), 1e-12);
        assertEquals(0.8, PruningSchedule.sparsityAt(0.5, 0.8, 900, 750, 3), 1e-12);
        List<Long> updates = new ArrayList<>();
        for (long step = 1; step <= 750; step++) {
            if (PruningSchedule.updatesAt(step, 750, 100)) {
                updates.add(step);
            }
        }
        assertEquals(List.of(1L, 101L, 201L, 301L, 401L, 501L, 601L, 701L, 750L), updates);
        assertThrows(IllegalArgumentException.class, () -> new PruningSchedule(0.9, 0.8, 10, 1, (p, s) -> Map.of()));
    }

    @Test
    void masksStayAppliedAfterEveryStepOfARealTrainingRun() {
        List<WeightLayer> layers = WeightLayer.find(model, Set.of("MatMul", "Gemm"));
        TrainingGraph graph = TrainingGraph.build(model, inference.valueTypes(model), Loss.crossEntropy(),
                TrainingOptions.defaults());
        // 640 samples in batches of 32: 20 steps per epoch, 60 in all; masks every 7 steps
        PruningSchedule schedule = new PruningSchedule(0.25, 0.75, 60, 7, FinetunePruning.magnitudeMasks(model, layers,
                PrunePattern.parse("unstructured"), PruneParams.Scope.LAYER, Map.of(), 0.25, 0.75));
        List<long[]> seen = new ArrayList<>();
        Trainer.Result result = Trainer.builder(graph, inference).optimizer(Optimizer.adam(0.01)).epochs(3).batchSize(32)
                .seed(1).listener(schedule).listener(new Trainer.Listener() {
                    @Override
                    public void afterStep(Trainer.Step step, Map<String, float[]> parameters) {
                        long z1 = 0;
                        long z2 = 0;
                        for (float v : parameters.get("w1")) {
                            z1 += v == 0 ? 1 : 0;
                        }
                        for (float v : parameters.get("w2")) {
                            z2 += v == 0 ? 1 : 0;
                        }
                        seen.add(new long[] {step.step(), z1, z2});
                    }
                }).build().fit(training);

        assertEquals(60, result.steps());
        List<PruningSchedule.Update> updates = schedule.updates();
        assertEquals(List.of(1L, 8L, 15L, 22L, 29L, 36L, 43L, 50L, 57L, 60L),
                updates.stream().map(PruningSchedule.Update::step).toList());
        int u = 0;
        for (long[] s : seen) {
            while (u + 1 < updates.size() && updates.get(u + 1).step() <= s[0]) {
                u++;
            }
            double sparsity = PruningSchedule.sparsityAt(0.25, 0.75, updates.get(u).step(), 60, 3);
            assertEquals(sparsity, updates.get(u).sparsity(), 1e-12);
            // every step, not only those that recompute: the optimizer moved the masked weights, the mask put them back
            assertEquals(Math.round(sparsity * 128), s[1], "w1 zeros after step " + s[0]);
            assertEquals(Math.round(sparsity * 48), s[2], "w2 zeros after step " + s[0]);
        }
        assertEquals(96, zeros(result.model(), "w1"));
        assertEquals(36, zeros(result.model(), "w2"));
    }

    @Test
    void finetuneReachesTheFinalSparsityExactlyAndReportsEachEpoch() {
        HarnessResult result = run("prune(sparsity=0.75,initial-sparsity=0.25,finetune=3,learning-rate=0.01)", training);
        OnnxModel pruned = result.output().onnxModel();
        Map<String, Double> metrics = result.steps().get(0).metrics();

        assertEquals(96, zeros(pruned, "w1"));
        assertEquals(36, zeros(pruned, "w2"));
        assertEquals((96 + 36) / 176.0, metrics.get("sparsity"), 1e-12);
        assertEquals(60, metrics.get("train-steps"));
        assertEquals(3, metrics.get("train-epochs"));
        assertEquals(2, metrics.get("mask-updates")); // steps 1 and 60 at the seed's frequency of 100
        for (int epoch = 1; epoch <= 3; epoch++) {
            assertTrue(metrics.containsKey("epoch-" + epoch + "-loss"), "epoch " + epoch);
            assertTrue(metrics.containsKey("epoch-" + epoch + "-accuracy"), "epoch " + epoch);
        }
        assertTrue(metrics.get("epoch-3-loss") < metrics.get("epoch-1-loss"), metrics.toString());
        // the kept weights trained: they are not the dense model's any more
        float[] dense = model.initializer("w1").orElseThrow().toFloatArray();
        float[] trained = pruned.initializer("w1").orElseThrow().toFloatArray();
        int moved = 0;
        for (int i = 0; i < dense.length; i++) {
            moved += trained[i] != 0 && trained[i] != dense[i] ? 1 : 0;
        }
        assertEquals(32, moved);
        // and the pruned model learned the rule: far better than the untrained dense model and than chance
        double before = accuracy(model);
        double after = accuracy(pruned);
        assertTrue(after > 0.6 && after > before + 0.2, "accuracy " + before + " dense, " + after + " pruned");
    }

    private static double accuracy(OnnxModel m) {
        Map<String, Tensor> arrays = SampleData.arrays(trainFile);
        float[] y;
        try (InferenceSession session = inference.open(m)) {
            y = session.run(Map.of("x", arrays.get("x"))).get("y").toFloatArray();
        }
        long[] labels = arrays.get("labels").toLongArray();
        int correct = 0;
        for (int i = 0; i < labels.length; i++) {
            int best = 0;
            for (int c = 1; c < 3; c++) {
                best = y[i * 3 + c] > y[i * 3 + best] ? c : best;
            }
            correct += best == labels[i] ? 1 : 0;
        }
        return (double) correct / labels.length;
    }

    @Test
    void twoOfFourStaysTwoOfFourWhileTraining() {
        OnnxModel pruned = run("prune(pattern=2:4,finetune=1)", training).output().onnxModel();
        float[] w1 = pruned.initializer("w1").orElseThrow().toFloatArray();
        // w1 [K=8, N=16]: each output column keeps 2 of every 4 consecutive inputs
        for (int col = 0; col < 16; col++) {
            for (int block = 0; block < 8; block += 4) {
                int kept = 0;
                for (int k = block; k < block + 4; k++) {
                    kept += w1[k * 16 + col] != 0 ? 1 : 0;
                }
                assertEquals(2, kept, "column " + col + ", rows " + block + "-" + (block + 3));
            }
        }
    }

    @Test
    void onlyFinetuningNeedsOpset16() {
        // training's MaxPool gradient needs ScatterElements with a reduction; pruning alone takes any opset
        var descriptor = new PruneTransform().descriptor();

        assertEquals(0, descriptor.minimumOpset(Params.parse(descriptor, Map.of("sparsity", "0.5"))));
        assertEquals(16, descriptor.minimumOpset(Params.parse(descriptor, Map.of("sparsity", "0.5", "finetune", "2"))));
        assertEquals("finetune>0", descriptor.minimumOpsetCondition(
                Params.parse(descriptor, Map.of("finetune", "1"))).orElseThrow());
    }

    @Test
    void finetuneWithoutTrainingDataIsRefusedBeforeAnyStep() {
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> PluginHarness.of(new PruneTransform()).run("prune(sparsity=0.8,finetune=2)", model, dir));
        assertEquals("step 1 'prune' needs training samples with finetune>0: give --train FILE or the event's trainUri",
                e.getMessage());
        // finetune=0 prunes without data, as before
        assertEquals(0.75, PluginHarness.of(new PruneTransform()).run("prune(sparsity=0.75)", model, dir).steps().get(0)
                .metrics().get("sparsity"), 1e-12);
    }

    @Test
    void badCombinationsAreRefusedByName() {
        InvalidInputException above = assertThrows(InvalidInputException.class,
                () -> run("prune(sparsity=0.5,initial-sparsity=0.7,finetune=1)", training));
        assertTrue(above.getMessage().contains("initial-sparsity 0.7 is above sparsity 0.5"), above.getMessage());
        InvalidInputException channel = assertThrows(InvalidInputException.class,
                () -> run("prune(pattern=channel,finetune=1)", training));
        assertTrue(channel.getMessage().contains("not channel"), channel.getMessage());
        InvalidInputException reconstruct = assertThrows(InvalidInputException.class,
                () -> PluginHarness.of(new PruneTransform()).data(DataRole.CALIBRATION, training)
                        .data(DataRole.TRAINING, training).run("prune(method=reconstruct,finetune=1)", model, dir));
        assertTrue(reconstruct.getMessage().contains("drop method=reconstruct"), reconstruct.getMessage());
        // Refused when the parameters are read, before any step or data: the descriptor carries the rule.
        assertEquals("invalid parameters for 'prune': initial-sparsity 0.7 is above sparsity 0.5: the schedule rises "
                + "from initial-sparsity to sparsity, the final one", assertThrows(InvalidParamException.class,
                () -> Params.parse(new PruneTransform().descriptor(),
                        Map.of("sparsity", "0.5", "initial-sparsity", "0.7", "finetune", "1"))).getMessage());
        Params.parse(new PruneTransform().descriptor(), Map.of("sparsity", "0.5", "initial-sparsity", "0.7"));
    }

    @Test
    void anOperatorWithoutAGradientIsNamed() {
        OnnxModel erf = classifier("Erf");
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> PluginHarness.of(new PruneTransform())
                .data(DataRole.TRAINING, training).run("prune(sparsity=0.5,finetune=1)", erf, dir));
        assertTrue(e.getMessage().startsWith("step 1 'prune': no gradient rule for operator Erf (Erf node"),
                e.getMessage());
        assertTrue(e.getCause() instanceof NoGradientRuleException, String.valueOf(e.getCause()));
    }

    @Test
    void divergenceStopsTheStepWithTheReason() throws Exception {
        Path file = dir.resolve("nan.npz");
        float[] x = new float[64 * 8];
        for (int i = 0; i < 64; i++) {
            x[i * 8 + 5] = Float.NaN; // every batch, whatever the shuffle
        }
        Datasets.writeNpz(file, Map.of("x", Tensor.ofFloats(new long[] {64, 8}, x),
                "labels", Tensor.ofLongs(new long[] {64}, new long[64])));
        StepFailedException e = assertThrows(StepFailedException.class, () -> run("prune(sparsity=0.5,finetune=1)",
                Datasets.open(file, "x")));
        assertTrue(e.getMessage().contains("training diverged: the loss is NaN at epoch 1, step 1"), e.getMessage());
        assertTrue(e.getCause() instanceof TrainingDivergedException, String.valueOf(e.getCause()));
        assertFalse(e.retriable());
    }
}
