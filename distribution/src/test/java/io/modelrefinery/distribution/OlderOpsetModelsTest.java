package io.modelrefinery.distribution;

import com.fasterxml.jackson.databind.JsonNode;
import io.modelrefinery.api.event.ModelRef;
import io.modelrefinery.api.event.StepRecord;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.TensorInfo;
import io.modelrefinery.api.plugin.Cancellation;
import io.modelrefinery.host.eval.QualityGates;
import io.modelrefinery.host.event.EventJson;
import io.modelrefinery.host.job.JobRequest;
import io.modelrefinery.host.job.JobResult;
import io.modelrefinery.host.job.JobRunner;
import io.modelrefinery.host.ort.OrtRuntime;
import io.modelrefinery.host.pipeline.JobListener;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.pipeline.TransformCatalog;
import io.modelrefinery.host.testing.TestModels;
import io.modelrefinery.plugin.fp16.Fp16Transform;
import io.modelrefinery.plugin.opset.OpsetTransform;
import io.modelrefinery.plugin.quantize.QuantizeDynamicTransform;
import io.modelrefinery.plugin.quantize.QuantizeStaticTransform;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real export at an old opset (torch's ResNet-18, {@code opset_version=9}, IR version 4, fixed batch of 1,
 * samples/zoo) through the bundled transforms in a job: the quantizers, which need opset 13, get the model
 * converted up in front of them by the opset transform, reported as a step of its own with a note; fp16,
 * which needs no newer opset, gets it as it is. The report keeps the original opset, and each result agrees
 * with the original on the job's own evaluation.
 */
class OlderOpsetModelsTest {
    private static final Path MODEL = TestModels.root().resolve("samples/zoo/resnet18-op9-fixed.onnx");

    @TempDir
    static Path dir;
    private static InferenceService inference;
    private static Path calibration;
    private static Path evaluation;

    @BeforeAll
    static void data() throws Exception {
        inference = new OrtRuntime().service(Device.CPU, dir.resolve("ort"));
        List<TensorInfo> inputs;
        try (InferenceSession session = inference.open(OnnxModel.load(MODEL))) {
            inputs = session.inputs();
        }
        calibration = RealArchitecturesIT.npz(dir.resolve("calibration.npz"), RealArchitecturesIT.samples(inputs, 16, 1));
        evaluation = RealArchitecturesIT.npz(dir.resolve("evaluation.npz"), RealArchitecturesIT.samples(inputs, 8, 2));
    }

    private static JobResult run(String pipeline) throws Exception {
        JobRequest request = new JobRequest("job-old-opset", new ModelRef("resnet18", "9"), MODEL.toUri().toString(),
                MODEL, null, PipelineSpec.parse(pipeline), calibration, evaluation, null,
                // latency on this tiny model says little; the fidelity is what is checked here
                QualityGates.parseAssignments(List.of("max-latency-ratio=100"), "--gate"));
        TransformCatalog catalog = TransformCatalog.of(new OpsetTransform(), new QuantizeStaticTransform(),
                new QuantizeDynamicTransform(), new Fp16Transform());
        JobRunner runner = new JobRunner(catalog, inference, dir.resolve("scratch"));
        return runner.run(request, JobListener.none(), Cancellation.never());
    }

    private static List<String> transforms(JobResult result) {
        return result.steps().stream().map(StepRecord::transform).toList();
    }

    @Test
    void staticQuantizationGetsTheModelConvertedUpFirstAndTheReportKeepsTheOriginalOpset() throws Exception {
        assertEquals(9, OnnxModel.load(MODEL).opsetVersion(), "the fixture is what torch wrote at opset 9");

        JobResult result = run("quantize-static");

        assertEquals(List.of("opset", "quantize-static"), transforms(result));
        StepRecord upgrade = result.steps().get(0);
        assertEquals(9.0, upgrade.metrics().get("source-opset"));
        assertEquals(13.0, upgrade.metrics().get("target-opset"));
        assertTrue(result.notes().contains("converted the model from opset 9 to 13 with opset " + new OpsetTransform()
                .descriptor().version() + " before step 1 'quantize-static', which needs opset 13 or later"), result.notes().toString());
        assertEquals(13, result.output().opsetVersion());
        assertTrue(result.steps().get(1).metrics().get("quantized-nodes") > 0, result.steps().get(1).metrics().toString());
        double sqnr = result.evaluation().sqnrDb();
        assertTrue(sqnr >= 25, "static int8 on a CNN: SQNR " + sqnr + " dB");

        JsonNode report = EventJson.tree(result.report(null, List.of()));
        assertEquals(9, report.at("/input/opset").asInt(), report.at("/input").toString());
    }

    @Test
    void dynamicQuantizationToo() throws Exception {
        JobResult result = run("quantize-dynamic");

        assertEquals(List.of("opset", "quantize-dynamic"), transforms(result));
        assertEquals(13, result.output().opsetVersion());
    }

    @Test
    void fp16TakesTheModelAsItIs() throws Exception {
        JobResult result = run("fp16");

        assertEquals(List.of("fp16"), transforms(result));
        assertEquals(9, result.output().opsetVersion());
        double sqnr = result.evaluation().sqnrDb();
        assertTrue(sqnr >= 40, "fp16: SQNR " + sqnr + " dB");
    }
}
