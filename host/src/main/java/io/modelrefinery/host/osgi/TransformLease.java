package io.modelrefinery.host.osgi;

import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.TransformDescriptor;
import io.modelrefinery.host.pipeline.TransformCatalog;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A transform held for one job. While the lease is open the job keeps using this exact instance, even
 * if its plugin is upgraded or removed meanwhile; closing it releases the service.
 */
public final class TransformLease implements TransformCatalog.Handle {
    private final BundleContext context;
    private final ServiceReference<ModelTransform> reference;
    private final ModelTransform transform;
    private final TransformDescriptor descriptor;
    private final AtomicBoolean closed = new AtomicBoolean();

    TransformLease(BundleContext context, ServiceReference<ModelTransform> reference, ModelTransform transform,
                   TransformDescriptor descriptor) {
        this.context = context;
        this.reference = reference;
        this.transform = transform;
        this.descriptor = descriptor;
    }

    @Override
    public ModelTransform transform() {
        return transform;
    }

    @Override
    public TransformDescriptor descriptor() {
        return descriptor;
    }

    /** Symbolic name and version of the bundle that provides the transform, for logs and reports. */
    public String bundle() {
        return reference.getBundle() == null ? "(removed)"
                : reference.getBundle().getSymbolicName() + " " + reference.getBundle().getVersion();
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            try {
                context.ungetService(reference);
            } catch (IllegalStateException | IllegalArgumentException e) {
                // the framework or the service is already gone: nothing left to release
            }
        }
    }
}
