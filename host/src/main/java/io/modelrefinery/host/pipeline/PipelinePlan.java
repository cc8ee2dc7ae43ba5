package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.InvalidInputException;
import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.OnnxArtifact;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformKind;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.stream.Collectors;

/**
 * A pipeline checked before any work: every transform exists, every parameter is valid, and each step
 * accepts the format the previous one produces. A model in a format the first step cannot read goes
 * through a converter first, which the plan adds as an ordinary step; so is an opset conversion in front of a
 * step that needs a newer ONNX opset than the model has. Holds the transforms for the job;
 * close it when the job ends.
 */
public final class PipelinePlan implements AutoCloseable {
    private final PipelineSpec spec;
    private final List<PlannedStep> steps;
    private final List<String> notes;
    /** Per planned step, its position in the pipeline as written (from 1), 0 for a step the plan added. */
    private final List<Integer> written;

    private PipelinePlan(PipelineSpec spec, List<PlannedStep> steps, List<String> notes, List<Integer> written) {
        this.spec = spec;
        this.steps = List.copyOf(steps);
        this.notes = List.copyOf(notes);
        this.written = List.copyOf(written);
    }

    /**
     * Plans {@code spec} for a model in {@code inputFormat}.
     *
     * @throws UnknownTransformException if a step names no transform on offer
     * @throws io.modelrefinery.api.plugin.InvalidParamException for a bad parameter
     * @throws InvalidInputException if a step cannot read what the step before it produces, or no
     *     converter turns the model's format into one the first step reads
     */
    public static PipelinePlan create(PipelineSpec spec, ModelFormat inputFormat, TransformCatalog catalog) {
        return create(spec, inputFormat, OptionalInt.empty(), catalog);
    }

    /**
     * Plans {@code spec} for {@code input}. An ONNX model older than a step's
     * {@link TransformDescriptor#minimumOpset(Params)} is converted up in front of that step by an installed opset
     * converter ({@link OpsetUpgrade}), which the plan adds as an ordinary step with a note.
     *
     * @throws UnknownTransformException if a step names no transform on offer
     * @throws io.modelrefinery.api.plugin.InvalidParamException for a bad parameter
     * @throws InvalidInputException if a step cannot read what the step before it produces, or no
     *     converter turns the model's format into one the first step reads
     */
    public static PipelinePlan create(PipelineSpec spec, ModelArtifact input, TransformCatalog catalog) {
        OptionalInt opset = input instanceof OnnxArtifact onnx
                ? OptionalInt.of((int) Math.min(Integer.MAX_VALUE, onnx.onnxModel().opsetVersion())) : OptionalInt.empty();
        return create(spec, input.format(), opset, catalog);
    }

    private static PipelinePlan create(PipelineSpec spec, ModelFormat inputFormat, OptionalInt inputOpset,
                                       TransformCatalog catalog) {
        OptionalInt opset = inputOpset;
        List<PlannedStep> steps = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        List<Integer> written = new ArrayList<>();
        List<TransformCatalog.Handle> held = new ArrayList<>();
        try {
            ModelFormat format = inputFormat;
            int index = 0;
            for (StepSpec step : spec.steps()) {
                index++;
                TransformCatalog.Handle handle = lease(catalog, step.transformId());
                held.add(handle);
                TransformDescriptor descriptor = handle.descriptor();
                Params params = Params.parse(descriptor, step.params());
                if (!descriptor.accepts(format) && index == 1) {
                    TransformCatalog.Handle converter = lease(catalog, converterId(catalog, format, descriptor));
                    held.add(converter);
                    steps.add(new PlannedStep(converter, Params.parse(converter.descriptor(), Map.of())));
                    written.add(0);
                    notes.add("converted the " + format + " model with " + converter.descriptor().id() + " "
                            + converter.descriptor().version() + " before the pipeline");
                    format = converter.descriptor().outputFormat();
                    opset = OptionalInt.empty();
                }
                if (!descriptor.accepts(format)) {
                    throw new InvalidInputException("step " + index + " '" + descriptor.id() + "' reads "
                            + descriptor.inputFormats() + " models, but receives " + format);
                }
                Optional<OpsetUpgrade> upgrade = OpsetUpgrade.before(descriptor, params, opset, catalog);
                if (upgrade.isPresent()) {
                    TransformDescriptor converter = upgrade.get().converter();
                    TransformCatalog.Handle upgrader = lease(catalog, converter.id());
                    held.add(upgrader);
                    steps.add(new PlannedStep(upgrader, upgrade.get().params()));
                    written.add(0);
                    notes.add("converted the model from opset " + opset.getAsInt() + " to " + upgrade.get().target()
                            + " with " + converter.id() + " " + converter.version() + " before step " + index + " '"
                            + descriptor.id() + "', which needs opset " + descriptor.minimumOpset(params) + " or later"
                            + descriptor.minimumOpsetCondition(params).map(c -> " with " + c).orElse(""));
                    opset = OptionalInt.of(upgrade.get().target());
                }
                LateOpsetUpgrade late = null;
                if (opset.isEmpty() && format.equals(ModelFormat.ONNX)) {
                    // the opset is known only at run time (after a converter from another format)
                    Optional<OpsetUpgrade> toMinimum = OpsetUpgrade.toMinimumOf(descriptor, params, catalog);
                    if (toMinimum.isPresent()) {
                        TransformCatalog.Handle upgrader = lease(catalog, toMinimum.get().converter().id());
                        held.add(upgrader);
                        late = new LateOpsetUpgrade(upgrader, toMinimum.get().target(), toMinimum.get().params(),
                                descriptor.minimumOpset(params),
                                descriptor.minimumOpsetCondition(params).orElse(null));
                    }
                }
                format = descriptor.outputFormat();
                PlannedStep planned = new PlannedStep(handle, params, late);
                steps.add(planned);
                written.add(index);
                opset = OpsetUpgrade.after(planned, opset);
            }
            return new PipelinePlan(spec, steps, notes, written);
        } catch (RuntimeException e) {
            held.forEach(TransformCatalog.Handle::close);
            throw e;
        }
    }

    private static TransformCatalog.Handle lease(TransformCatalog catalog, String id) {
        return catalog.lease(id).orElseThrow(() -> new UnknownTransformException("unknown transform '" + id
                + "' (installed: " + installed(catalog) + ")"));
    }

    /** The converter from {@code format} to a format {@code first} reads; the first by id when several fit. */
    private static String converterId(TransformCatalog catalog, ModelFormat format, TransformDescriptor first) {
        return catalog.descriptors().stream()
                .filter(d -> d.kind() == TransformKind.CONVERTER && d.accepts(format) && first.accepts(d.outputFormat()))
                .map(TransformDescriptor::id)
                .findFirst()
                .orElseThrow(() -> new InvalidInputException("no converter from " + format + " to "
                        + first.inputFormats().stream().map(ModelFormat::id).collect(Collectors.joining(" or "))
                        + " installed (installed: " + installed(catalog) + ")"));
    }

    private static String installed(TransformCatalog catalog) {
        return catalog.transformIds().isEmpty() ? "none" : String.join(", ", catalog.transformIds());
    }

    public PipelineSpec spec() {
        return spec;
    }

    /** The steps to run: the spec's, after the converter the plan added, if any. */
    public List<PlannedStep> steps() {
        return steps;
    }

    /**
     * Where {@code steps().get(i)} stands in the pipeline as the user wrote it, from 1; 0 for a converter or
     * opset conversion the plan added. A message about a step before any has run names it so: the user's
     * "distill" is step 1 even when an opset conversion runs first.
     */
    public int writtenIndex(int i) {
        return written.get(i);
    }

    /** What the plan decided by itself (a converter or an opset conversion it added), for the job report's notes. */
    public List<String> notes() {
        return notes;
    }

    @Override
    public void close() {
        for (PlannedStep step : steps) {
            step.handle().close();
            if (step.lateUpgrade() != null) {
                step.lateUpgrade().converter().close();
            }
        }
    }
}
