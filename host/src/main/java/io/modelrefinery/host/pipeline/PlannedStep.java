package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformDescriptor;

/**
 * A step ready to run: the transform held for the job and its validated parameters.
 *
 * @param handle the transform
 * @param params parameter values checked against its descriptor
 * @param lateUpgrade the opset conversion to make first if the model proves too old at run time, or
 *     {@code null} (the plan knew the opset, or the step needs none)
 */
public record PlannedStep(TransformCatalog.Handle handle, Params params, LateOpsetUpgrade lateUpgrade) {
    public PlannedStep(TransformCatalog.Handle handle, Params params) {
        this(handle, params, null);
    }

    public TransformDescriptor descriptor() {
        return handle.descriptor();
    }
}
