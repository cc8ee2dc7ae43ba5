package io.modelrefinery.plugin.fp16;

import io.modelrefinery.api.infer.GraphOptimizationLevel;
import io.modelrefinery.api.infer.InferenceException;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.infer.InferenceSession;
import io.modelrefinery.api.infer.SessionOptions;
import io.modelrefinery.api.onnx.OnnxModel;

import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Asks ONNX Runtime which operator of a converted model it cannot load in float16: one whose schema has
 * no float16 (Celu) or whose provider has no float16 kernel (EyeLike on the CPU). The session is opened
 * without graph optimizations, which only checks types and kernels.
 */
final class MissingKernels {
    private static final Pattern TYPE_ERROR = Pattern.compile("Type 'tensor\\(float16\\)' of input parameter \\(.*?\\) "
            + "of operator \\((\\w+)\\)");
    private static final Pattern NO_KERNEL = Pattern.compile("Could not find an implementation for (\\w+)\\(\\d+\\)");

    private final InferenceService inference;

    MissingKernels(InferenceService inference) {
        this.inference = inference;
    }

    /** The operator type ONNX Runtime refuses in {@code model}, if it refuses one for its type; empty if it loads. */
    Optional<String> refusedOperator(OnnxModel model) {
        SessionOptions loadOnly = SessionOptions.defaults().withOptimization(GraphOptimizationLevel.DISABLED);
        try (InferenceSession session = inference.open(model, loadOnly)) {
            return Optional.empty();
        } catch (InferenceException e) {
            String message = e.getMessage() == null ? "" : e.getMessage();
            for (Pattern p : new Pattern[] {TYPE_ERROR, NO_KERNEL}) {
                Matcher m = p.matcher(message);
                if (m.find()) {
                    return Optional.of(m.group(1));
                }
            }
            return Optional.empty(); // another failure: the host's output check reports it
        }
    }
}
