package io.modelrefinery.host.osgi.brokenactivation;

import io.modelrefinery.api.plugin.ModelArtifact;
import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.Params;
import io.modelrefinery.api.plugin.TransformContext;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.api.plugin.TransformResult;
import org.osgi.service.component.annotations.Component;

/** A plugin whose component cannot be created: Declarative Services hands out nothing, the host lists it as failed. */
@Component(service = ModelTransform.class)
public final class ThrowingConstructorTransform implements ModelTransform {
    public ThrowingConstructorTransform() {
        throw new IllegalStateException("constructor deliberately broken");
    }

    @Override
    public TransformDescriptor descriptor() {
        throw new IllegalStateException("never called");
    }

    @Override
    public TransformResult apply(TransformContext context, ModelArtifact input, Params params) {
        throw new IllegalStateException("never called");
    }
}
