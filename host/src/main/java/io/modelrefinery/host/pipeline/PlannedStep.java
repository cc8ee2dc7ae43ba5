package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformDescriptor;

/**
 * A step ready to run: the transform held for the job and its validated parameters.
 *
 * @param handle the transform
 * @param params parameter values checked against its descriptor
 */
public record PlannedStep(TransformCatalog.Handle handle, Params params) {
    public TransformDescriptor descriptor() {
        return handle.descriptor();
    }
}
