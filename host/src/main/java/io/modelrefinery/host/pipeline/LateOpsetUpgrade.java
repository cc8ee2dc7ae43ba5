package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.infer.InferenceService;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.OnnxArtifact;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformContext;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformResult;

import java.util.List;

/**
 * An opset conversion the runner makes in front of a step only if the model it receives proves older than the
 * step's minimum: the plan cannot know the opset a converter from another format (Keras, TFLite, or a
 * third party's) writes, so it holds the converter and leaves the decision to run time. It runs as part of the
 * step, under the step's time limit, its output checked like any step's, and the step's notes say it ran.
 *
 * @param converter the opset converter, held for the job
 * @param target the opset it converts to
 * @param params the converter's parameters for that target
 * @param needed the step's minimum with its parameters
 * @param condition the parameters that raise the minimum, in words ({@code finetune>0}), or {@code null}
 */
public record LateOpsetUpgrade(TransformCatalog.Handle converter, int target, Params params, int needed,
                               String condition) {

    /**
     * {@code input} converted up when it is ONNX older than {@link #needed()}, with a note added to
     * {@code notes}; {@code input} itself otherwise.
     *
     * @throws InvalidInputException when the converter refuses the model (the message says it was converting)
     * @throws IllegalStateException when the conversion fails otherwise or its output does not pass the check
     */
    ModelArtifact apply(TransformContext context, ModelArtifact input, InferenceService inference, List<String> notes) {
        if (!(input instanceof OnnxArtifact onnx)) {
            return input;
        }
        long opset = onnx.onnxModel().opsetVersion();
        if (opset <= 0 || opset >= needed) {
            return input;
        }
        TransformDescriptor d = converter.descriptor();
        String doing = "converting the model from opset " + opset + " to " + target + " with " + d.id()
                + " first";
        TransformResult converted;
        try {
            converted = converter.transform().apply(context, input, params);
            if (converted == null) {
                throw new IllegalStateException("the converter returned no result");
            }
            PipelineRunner.checkOutput(converted.output(), d, inference, input);
        } catch (InvalidInputException e) {
            throw new InvalidInputException(doing + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            throw new IllegalStateException(doing + ": " + (e.getMessage() == null ? e.getClass().getSimpleName()
                    : e.getMessage()), e);
        }
        notes.add("converted the model from opset " + opset + " to " + target + " with " + d.id() + " "
                + d.version() + " first: this step needs opset " + needed + " or later"
                + (condition == null ? "" : " with " + condition) + ", and the model it received was older");
        return converted.output();
    }
}
