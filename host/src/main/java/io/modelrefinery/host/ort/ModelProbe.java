package io.modelrefinery.host.ort;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.data.InvalidDataException;
import io.modelrefinery.api.infer.Device;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.onnx.ModelValidator;
import io.modelrefinery.api.onnx.OnnxModel;
import io.modelrefinery.api.onnx.Tensor;
import io.modelrefinery.host.eval.Evaluator;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The program an {@link IsolatedProbe} runs in a child JVM: reads and validates a model, opens an ONNX
 * Runtime session on it with the default options (all graph optimizations, as a deployer opens it) and runs
 * it once on generated inputs, saying on stdout when the session is open. Exit code 0 when all of that works, 2 with
 * one line on stderr when the model is refused, 4 when something else fails; anything worse (a native
 * crash; running out of memory, which the JVM reports as 3; running out of time) ends the child, not the host.
 */
public final class ModelProbe {
    private ModelProbe() {
    }

    public static void main(String[] args) {
        if (args.length != 1) {
            System.err.println("usage: ModelProbe MODEL.onnx");
            System.exit(2);
        }
        try {
            Path model = Path.of(args[0]);
            OnnxModel onnx = OnnxModel.load(model);
            ModelValidator.validate(onnx);
            Path scratch = Files.createTempDirectory("refinery-probe-");
            InferenceService inference = new OrtRuntime().service(Device.CPU, scratch);
            try (InferenceSession session = inference.open(onnx)) {
                // the host tells a crash at run time from one while opening by this line
                System.out.println(IsolatedProbe.OPENED);
                System.out.flush();
                Map<String, Tensor> feeds;
                try {
                    feeds = Evaluator.generatedInputs(session.inputs());
                } catch (InvalidDataException e) {
                    System.exit(0); // string inputs: nothing to generate, loading is all there is to check
                    return;
                }
                session.run(feeds);
            }
            System.exit(0);
        } catch (InvalidInputException e) {
            System.err.println(e.getMessage());
            System.exit(2);
        } catch (Exception e) {
            System.err.println(e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().lines().findFirst().orElse(""));
            System.exit(4);
        }
    }
}
