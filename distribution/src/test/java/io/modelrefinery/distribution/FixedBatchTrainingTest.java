package io.modelrefinery.distribution;

import io.modelrefinery.api.data.Dataset;
import io.modelrefinery.api.data.Datasets;
import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.plugin.DataRole;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.JobData;
import io.modelrefinery.host.pipeline.LocalRun;
import io.modelrefinery.host.pipeline.PipelineResult;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.plugin.distill.DistillTransform;
import io.modelrefinery.plugin.opset.OpsetTransform;
import io.modelrefinery.plugin.prune.PruneTransform;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The training paths on an export with a fixed batch of 1 (torch's default, samples/zoo's ResNet-18):
 * distillation and pruning with fine-tuning train in batches the model takes (one sample per step, however
 * large batch-size is), and the result keeps the original's interface.
 */
class FixedBatchTrainingTest {
    private static final Path MODEL = TestModels.root().resolve("samples/zoo/resnet18-op13-fixed.onnx");
    private static final int SAMPLES = 12;

    @TempDir
    static Path dir;
    private static JobData data;
    private static long[] inputShape;

    @BeforeAll
    static void samples() throws Exception {
        List<TensorInfo> inputs;
        try (InferenceSession session = new OrtRuntime().service(Device.CPU, dir.resolve("ort")).open(OnnxModel.load(MODEL))) {
            inputs = session.inputs();
        }
        inputShape = inputs.get(0).shape();
        assertEquals(1, inputShape[0], "the export fixes a batch of 1");
        Map<String, Tensor> arrays = new LinkedHashMap<>(RealArchitecturesIT.samples(inputs, SAMPLES, 3));
        long[] labels = new long[SAMPLES];
        for (int i = 0; i < SAMPLES; i++) {
            labels[i] = i % 10;
        }
        arrays.put(Dataset.LABELS, Tensor.ofLongs(new long[] {SAMPLES}, labels));
        Path npz = RealArchitecturesIT.npz(dir.resolve("train.npz"), arrays);
        data = JobData.of(Map.of(DataRole.TRAINING, Datasets.open(npz, "input")));
    }

    private static PipelineResult run(String pipeline) {
        return LocalRun.of(new DistillTransform(), new PruneTransform(), new OpsetTransform()).data(data)
                .run(pipeline, ModelArtifact.onnx(load()), dir.resolve(pipeline.replaceAll("\\W", "_")));
    }

    private static OnnxModel load() {
        try {
            return OnnxModel.load(MODEL);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void keepsTheInterface(PipelineResult result) throws Exception {
        try (InferenceSession session = new OrtRuntime().service(Device.CPU, dir.resolve("ort-check"))
                .open(result.output().onnxModel())) {
            assertArrayEquals(inputShape, session.inputs().get(0).shape());
        }
    }

    @Test
    void distillationTrainsInTheBatchTheModelTakes() throws Exception {
        PipelineResult result = run("distill(epochs=1,batch-size=4)");

        // training MaxPool needs opset 16: distill says so, and the opset-13 export is converted up first
        assertEquals(List.of("opset", "distill"), result.steps().stream().map(StepRecord::transform).toList());
        StepRecord step = result.steps().get(1);
        assertEquals(SAMPLES, step.metrics().get("train-steps"), step.metrics().toString());
        assertTrue(step.metrics().get("student-params") < step.metrics().get("teacher-params"), step.metrics().toString());
        keepsTheInterface(result);
    }

    @Test
    void pruningWithFineTuningTrainsInTheBatchTheModelTakes() throws Exception {
        // prune needs opset 16 only when it trains, which its descriptor cannot say yet: converted by hand
        PipelineResult result = run("opset(target=17),prune(sparsity=0.5,finetune=1,batch-size=4)");

        StepRecord step = result.steps().get(1);
        assertEquals(SAMPLES, step.metrics().get("train-steps"), step.metrics().toString());
        assertEquals(0.5, step.metrics().get("sparsity"), 0.01, step.metrics().toString());
        keepsTheInterface(result);
    }
}
