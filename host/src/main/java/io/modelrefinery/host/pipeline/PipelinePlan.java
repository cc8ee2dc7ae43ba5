package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformDescriptor;

import java.util.ArrayList;
import java.util.List;

/**
 * A pipeline checked before any work: every transform exists, every parameter is valid, and each step
 * accepts the format the previous one produces. Holds the transforms for the job; close it when the
 * job ends.
 */
public final class PipelinePlan implements AutoCloseable {
    private final PipelineSpec spec;
    private final List<PlannedStep> steps;

    private PipelinePlan(PipelineSpec spec, List<PlannedStep> steps) {
        this.spec = spec;
        this.steps = List.copyOf(steps);
    }

    /**
     * Plans {@code spec} for a model in {@code inputFormat}.
     *
     * @throws UnknownTransformException if a step names no transform on offer
     * @throws io.modelrefinery.api.plugin.InvalidParamException for a bad parameter
     * @throws InvalidInputException if a step cannot read what the step before it produces
     */
    public static PipelinePlan create(PipelineSpec spec, ModelFormat inputFormat, TransformCatalog catalog) {
        List<PlannedStep> steps = new ArrayList<>();
        List<TransformCatalog.Handle> held = new ArrayList<>();
        try {
            ModelFormat format = inputFormat;
            int index = 0;
            for (StepSpec step : spec.steps()) {
                index++;
                TransformCatalog.Handle handle = catalog.lease(step.transformId()).orElseThrow(() ->
                        new UnknownTransformException("unknown transform '" + step.transformId() + "' (installed: "
                                + (catalog.transformIds().isEmpty() ? "none" : String.join(", ", catalog.transformIds()))
                                + ")"));
                held.add(handle);
                TransformDescriptor descriptor = handle.descriptor();
                Params params = Params.parse(descriptor, step.params());
                if (!descriptor.accepts(format)) {
                    throw new InvalidInputException("step " + index + " '" + descriptor.id() + "' reads "
                            + descriptor.inputFormats() + " models, but receives " + format);
                }
                format = descriptor.outputFormat();
                steps.add(new PlannedStep(handle, params));
            }
            return new PipelinePlan(spec, steps);
        } catch (RuntimeException e) {
            held.forEach(TransformCatalog.Handle::close);
            throw e;
        }
    }

    public PipelineSpec spec() {
        return spec;
    }

    public List<PlannedStep> steps() {
        return steps;
    }

    @Override
    public void close() {
        for (PlannedStep step : steps) {
            step.handle().close();
        }
    }
}
