package io.modelrefinery.plugin.distill;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.proto.Onnx.TensorProto;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.testdata.FashionMnist;
import io.modelrefinery.testkit.ConformanceModels;
import io.modelrefinery.testkit.ConvNets;
import io.modelrefinery.testkit.HarnessResult;
import io.modelrefinery.testkit.PluginHarness;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The sample CNN distilled into a half-width student on Fashion-MNIST, through the test kit's harness. */
class DistillTransformTest {
    @TempDir
    static Path dir;
    private static FashionMnist.Samples test;
    private static Path train;
    private static Path eval;
    private static InferenceService inference;

    @BeforeAll
    static void data() {
        FashionMnist.assumeAvailable();
        test = FashionMnist.binary(FashionMnist.Split.TEST, 1000);
        train = FashionMnist.binary(FashionMnist.Split.TRAIN, 3000).writeNpz(dir.resolve("train.npz"));
        eval = test.writeNpz(dir.resolve("eval.npz"));
        inference = PluginHarness.inference(dir.resolve("ort"));
    }

    /** distill with the Fashion-MNIST training and evaluation sets. */
    private static PluginHarness withData() {
        return PluginHarness.of(new DistillTransform()).data(DataRole.EVALUATION, eval).data(DataRole.TRAINING, train);
    }

    private static Map<String, long[]> shapes(OnnxModel model) {
        Map<String, long[]> out = new LinkedHashMap<>();
        for (TensorProto t : model.graph().getInitializerList()) {
            out.put(t.getName(), t.getDimsList().stream().mapToLong(Long::longValue).toArray());
        }
        return out;
    }

    @Test
    void halfWidthStudentLearnsTheTask() throws Exception {
        HarnessResult result = withData()
                .run("distill(student-width=0.5,epochs=2,seed=3)", ConformanceModels.sampleCnn(), dir);
        OnnxModel student = result.output().onnxModel();

        Map<String, long[]> shapes = shapes(student);
        assertEquals(List.of(6L, 1L, 3L, 3L), List.of(box(shapes.get("c1.weight"))));
        assertEquals(List.of(12L, 6L, 3L, 3L), List.of(box(shapes.get("c2.weight"))));
        assertEquals(List.of(1L, 300L), List.of(box(shapes.get("fc.weight"))));
        Map<String, Double> metrics = result.steps().get(0).metrics();
        assertEquals(3337, metrics.get("teacher-params"));
        assertEquals(student.parameterCount(), metrics.get("student-params"));
        assertTrue(student.parameterCount() < 3337 / 2, "student params " + student.parameterCount());
        // A fresh student learns the task from 3,000 images in 2 epochs (teacher: 95.2% on the full test set).
        double accuracy = test.accuracy(inference, student);
        assertTrue(accuracy > 0.9, "student accuracy " + accuracy);
        assertEquals(accuracy, metrics.get("student-accuracy"), 1e-9);
        assertTrue(metrics.get("epoch-2-loss") < metrics.get("epoch-1-loss"), metrics.toString());
        assertTrue(metrics.get("train-samples-per-second") > 0);
    }

    @Test
    void sameSeedSameStudent() throws Exception {
        OnnxModel teacher = ConformanceModels.sampleCnn();
        Map<String, io.modelrefinery.api.onnx.TensorInfo> types = inference.valueTypes(teacher);
        OnnxModel a = Students.narrowed(teacher, types, 0.25, 9);
        OnnxModel b = Students.narrowed(teacher, types, 0.25, 9);
        OnnxModel c = Students.narrowed(teacher, types, 0.25, 10);
        assertEquals(a.proto(), b.proto());
        assertTrue(!a.proto().equals(c.proto()));
        assertEquals(List.of(3L, 1L, 3L, 3L), List.of(box(shapes(a).get("c1.weight"))));
        // The student runs: every narrowed shape fits its neighbours.
        try (InferenceSession s = inference.open(a)) {
            Tensor out = s.run(Map.of("input", Tensor.ofFloats(new long[] {1, 28, 28}, new float[784]))).get("output");
            assertEquals(1, out.elementCount());
        }
    }

    @Test
    void narrowsAndTrainsAMobileNetWithDepthwiseConvolutionsResidualsAndReLU6() throws Exception {
        OnnxModel teacher = ConvNets.smallMobileNet(4);
        java.util.Random random = new java.util.Random(2);
        float[] images = new float[48 * 3 * 32 * 32];
        for (int i = 0; i < images.length; i++) {
            images[i] = (float) random.nextGaussian();
        }
        long[] labels = new long[48];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = random.nextInt(10);
        }
        Path file = dir.resolve("mobilenet-train.npz");
        Map<String, Tensor> arrays = new LinkedHashMap<>();
        arrays.put("input", Tensor.ofFloats(new long[] {48, 3, 32, 32}, images));
        arrays.put("labels", Tensor.ofLongs(new long[] {48}, labels));
        Datasets.writeNpz(file, arrays);

        HarnessResult result = PluginHarness.of(new DistillTransform())
                .data(DataRole.TRAINING, file)
                .run("distill(epochs=1,batch-size=16)", teacher, dir);

        OnnxModel student = result.output().onnxModel();
        Map<String, Double> metrics = result.steps().get(0).metrics();
        assertTrue(student.parameterCount() < 0.4 * teacher.parameterCount(),
                student.parameterCount() + " of " + teacher.parameterCount());
        assertEquals(3, metrics.get("train-steps"));
        assertTrue(Double.isFinite(metrics.get("epoch-1-loss")), metrics.toString());
        try (InferenceSession s = inference.open(student)) {
            Tensor p = s.run(Map.of("input", Tensor.ofFloats(new long[] {1, 3, 32, 32}, new float[3 * 32 * 32])))
                    .get("probabilities");
            assertEquals(10, p.elementCount());
        }
    }

    @Test
    void divergenceFailsTheStepInsteadOfReturningAModel() throws Exception {
        // Pixels near the float maximum overflow the convolutions: the first loss is not finite.
        float[] images = new float[8 * 28 * 28];
        java.util.Arrays.fill(images, 3e38f);
        Path file = dir.resolve("overflow.npz");
        Map<String, Tensor> arrays = new LinkedHashMap<>();
        arrays.put("input", Tensor.ofFloats(new long[] {8, 28, 28}, images));
        arrays.put("labels", Tensor.ofLongs(new long[] {8}, 0, 1, 0, 1, 0, 1, 0, 1));
        Datasets.writeNpz(file, arrays);

        RuntimeException e = assertThrows(RuntimeException.class, () -> PluginHarness.of(new DistillTransform())
                .data(DataRole.TRAINING, file)
                .run("distill(epochs=1,student-width=1)", ConformanceModels.sampleCnn(), dir));
        assertTrue(e.getMessage().contains("training diverged: the loss is NaN at epoch 1, step 1"), e.getMessage());
        assertTrue(e.getMessage().endsWith("; lower the learning rate"), e.getMessage());
    }

    @Test
    void distillWithoutTrainingDataIsRefusedBeforeWork() {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> PluginHarness.of(new DistillTransform())
                .run("distill", ConformanceModels.sampleCnn(), dir));
        assertTrue(e.getMessage().contains("--train"), e.getMessage());
    }

    @Test
    void aLayerWithoutGradientRuleIsNamed() throws Exception {
        // Erf between the first convolution and the rest: no rule, so training cannot start.
        OnnxModel teacher = ConformanceModels.sampleCnn();
        var editor = io.modelrefinery.api.onnx.GraphEditor.of(teacher.graph());
        var relu = teacher.graph().getNodeList().stream().filter(n -> n.getOpType().equals("Relu")).findFirst().orElseThrow();
        editor.replaceNode(relu, relu.toBuilder().setOpType("Erf").build());
        OnnxModel broken = teacher.withGraph(editor.build());
        // Full width: nothing to narrow, so the training graph meets the operator.
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> withData().run("distill(epochs=1,student-width=1)", broken, dir));
        assertTrue(e.getMessage().contains("no gradient rule for operator Erf (Erf node '/Relu')"), e.getMessage());
        // Narrowed: the student builder names the operator it cannot follow.
        InvalidInputException narrowing = assertThrows(InvalidInputException.class, () -> withData().run("distill(epochs=1)", broken, dir));
        assertTrue(narrowing.getMessage().endsWith("cannot narrow through Erf node '/Relu'; give a student model"),
                narrowing.getMessage());
    }

    private static Long[] box(long[] values) {
        Long[] out = new Long[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i];
        }
        return out;
    }
}
