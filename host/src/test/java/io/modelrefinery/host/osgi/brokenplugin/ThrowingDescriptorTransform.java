package io.modelrefinery.host.osgi.brokenplugin;

import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformContext;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformResult;
import org.osgi.service.component.annotations.Component;

/** A plugin whose descriptor throws: the host must list it as failed, with the reason, and offer nothing. */
@Component(service = ModelTransform.class)
public final class ThrowingDescriptorTransform implements ModelTransform {
    public static final String MESSAGE = "descriptor deliberately broken";

    @Override
    public TransformDescriptor descriptor() {
        throw new IllegalStateException(MESSAGE);
    }

    @Override
    public TransformResult apply(TransformContext context, ModelArtifact input, Params params) {
        throw new IllegalStateException("never called");
    }
}
