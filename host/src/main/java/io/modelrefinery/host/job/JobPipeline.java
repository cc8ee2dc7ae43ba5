package io.modelrefinery.host.job;

import io.modelrefinery.api.plugin.InvalidParamException;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.host.auto.AutoSettings;
import io.modelrefinery.host.eval.QualityGates;
import io.modelrefinery.host.pipeline.PipelineSpec;
import io.modelrefinery.host.pipeline.PipelineSyntaxException;
import io.modelrefinery.host.pipeline.StepSpec;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A pipeline spec as the host reads it: the transform steps, plus two steps the host handles itself.
 * {@code gate(max-accuracy-drop=0.005,...)} as the last step sets quality gates for the result;
 * {@code auto(objective=size,max-accuracy-drop=0.005,...)} as the only step searches recipes and keeps
 * the best one that passes its gates.
 *
 * @param transforms the transform steps; empty for {@code auto}
 * @param gates the gates the spec sets
 * @param auto the search settings, when the spec is {@code auto}
 */
public record JobPipeline(PipelineSpec transforms, QualityGates gates, Optional<AutoSettings> auto) {
    public static final String GATE = "gate";
    public static final String AUTO = "auto";

    /**
     * Reads {@code spec}.
     *
     * @throws PipelineSyntaxException if {@code gate} is not last or {@code auto} is not alone
     * @throws InvalidParamException for an unknown gate or auto parameter, or a refused value
     */
    public static JobPipeline of(PipelineSpec spec) {
        List<StepSpec> steps = spec.steps();
        QualityGates gates = QualityGates.none();
        List<StepSpec> transforms = new ArrayList<>();
        for (int i = 0; i < steps.size(); i++) {
            StepSpec step = steps.get(i);
            if (step.transformId().equals(GATE)) {
                if (i != steps.size() - 1) {
                    throw new PipelineSyntaxException("pipeline '" + spec + "': 'gate' must be the last step");
                }
                if (step.params().isEmpty()) {
                    throw new PipelineSyntaxException("pipeline '" + spec + "': 'gate' sets no gate (known: "
                            + String.join(", ", QualityGates.ALL.stream().map(ParamSpec::name).toList()) + ")");
                }
                gates = QualityGates.of(Params.parse(HostSteps.GATE, step.params()));
            } else if (step.transformId().equals(AUTO)) {
                if (steps.size() != 1) {
                    throw new PipelineSyntaxException("pipeline '" + spec + "': 'auto' chooses the steps itself and "
                            + "cannot be combined with others; put its gates in its parameters");
                }
                Params params = Params.parse(HostSteps.AUTO, step.params());
                return new JobPipeline(PipelineSpec.of(List.of()), QualityGates.of(params),
                        Optional.of(AutoSettings.of(params)));
            } else {
                transforms.add(step);
            }
        }
        if (transforms.isEmpty()) {
            throw new PipelineSyntaxException("pipeline '" + spec + "' has no transform step");
        }
        return new JobPipeline(PipelineSpec.of(transforms), gates, Optional.empty());
    }
}
