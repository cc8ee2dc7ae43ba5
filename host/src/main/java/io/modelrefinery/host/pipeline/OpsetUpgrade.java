package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.plugin.ModelFormat;
import io.modelrefinery.api.plugin.ParamRole;
import io.modelrefinery.api.plugin.ParamSpec;
import io.modelrefinery.api.plugin.ParamValidator;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformKind;

import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * The opset conversion a plan puts in front of a step whose model is older than the step's
 * {@link TransformDescriptor#minimumOpset(Params)} with its parameters. The converter is found by what its descriptor says (an
 * ONNX-to-ONNX converter with a {@link ParamRole#TARGET_OPSET} parameter), never by its id, so that any
 * installed opset converter serves.
 *
 * @param converter the converter's descriptor
 * @param target the opset it converts to: the step's minimum, or the converter's lowest target if higher
 */
record OpsetUpgrade(TransformDescriptor converter, int target) {

    /**
     * The upgrade a model at {@code opset} needs before {@code step} run with {@code params}, if it needs one
     * and an installed converter can make it; empty otherwise (the step then meets the model as it is, and may
     * refuse it).
     */
    static Optional<OpsetUpgrade> before(TransformDescriptor step, Params params, OptionalInt opset,
                                         TransformCatalog catalog) {
        if (opset.isEmpty() || opset.getAsInt() <= 0 || opset.getAsInt() >= step.minimumOpset(params)) {
            return Optional.empty();
        }
        return toMinimumOf(step, params, catalog);
    }

    /**
     * The upgrade to {@code step}'s minimum opset with {@code params}, whatever the model's opset: for a step
     * whose model's opset is known only once an earlier step ran (after a converter from another format), so
     * that the runner can convert at run time when the model proves older ({@link LateOpsetUpgrade}). Empty
     * when the step needs no minimum or no installed converter reaches it.
     */
    static Optional<OpsetUpgrade> toMinimumOf(TransformDescriptor step, Params params, TransformCatalog catalog) {
        int needed = step.minimumOpset(params);
        if (needed == 0) {
            return Optional.empty();
        }
        for (TransformDescriptor d : catalog.descriptors()) {
            if (d.id().equals(step.id()) || !isOpsetConverter(d)) {
                continue;
            }
            int target = Math.max(needed, lowestTarget(d.param(ParamRole.TARGET_OPSET).orElseThrow()));
            if (accepts(d.param(ParamRole.TARGET_OPSET).orElseThrow(), target)) {
                return Optional.of(new OpsetUpgrade(d, target));
            }
        }
        return Optional.empty();
    }

    /** Whether {@code d} converts ONNX to ONNX at the opset its {@link ParamRole#TARGET_OPSET} parameter names. */
    static boolean isOpsetConverter(TransformDescriptor d) {
        return d.kind() == TransformKind.CONVERTER && d.accepts(ModelFormat.ONNX)
                && d.outputFormat().equals(ModelFormat.ONNX) && d.param(ParamRole.TARGET_OPSET).isPresent();
    }

    /** The opset a planned step leaves the model at: its target when it is an opset converter, else {@code opset}. */
    static OptionalInt after(PlannedStep step, OptionalInt opset) {
        if (!step.descriptor().outputFormat().equals(ModelFormat.ONNX)) {
            return OptionalInt.empty();
        }
        if (!step.descriptor().accepts(ModelFormat.ONNX)) {
            // a converter from another format: what it writes is known once it ran, not now
            return OptionalInt.empty();
        }
        Optional<ParamSpec<?>> target = step.descriptor().param(ParamRole.TARGET_OPSET);
        if (target.isPresent() && step.params().get(target.get()) instanceof Number n) {
            return OptionalInt.of(n.intValue());
        }
        return opset;
    }

    /** The converter's parameters for this upgrade. */
    Params params() {
        ParamSpec<?> spec = converter.param(ParamRole.TARGET_OPSET).orElseThrow();
        return Params.parse(converter, Map.of(spec.name(), Integer.toString(target)));
    }

    private static int lowestTarget(ParamSpec<?> spec) {
        return spec.range().map(ParamValidator.Range::min)
                .filter(Double::isFinite)
                .map(min -> (int) Math.ceil(min))
                .orElse(1);
    }

    private static boolean accepts(ParamSpec<?> spec, int target) {
        return spec.range().map(r -> r.contains(target)).orElse(true);
    }
}
