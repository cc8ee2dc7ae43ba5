package io.modelrefinery.host.pipeline;

import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.api.plugin.TransformDescriptor;

import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * Where a pipeline gets its transforms: the plugin registry in the host, a fixed list in tests and
 * plugin builds.
 */
public interface TransformCatalog {

    /** Takes the transform with {@code id} for one job; empty if none is on offer. */
    Optional<? extends Handle> lease(String id);

    /** The ids on offer, for error messages. */
    List<String> transformIds();

    /** The descriptor of each transform on offer (the newest version of each id), sorted by id. */
    List<TransformDescriptor> descriptors();

    /** A transform held for one job; close it when the job ends. */
    interface Handle extends AutoCloseable {
        ModelTransform transform();

        TransformDescriptor descriptor();

        @Override
        void close();
    }

    /** A catalog of fixed transform instances: for tests and for running plugins outside the framework. */
    static TransformCatalog of(ModelTransform... transforms) {
        List<ModelTransform> all = List.of(transforms);
        return new TransformCatalog() {
            @Override
            public Optional<Handle> lease(String id) {
                return all.stream().filter(t -> t.descriptor().id().equals(id)).findFirst().map(t -> new Handle() {
                    @Override
                    public ModelTransform transform() {
                        return t;
                    }

                    @Override
                    public TransformDescriptor descriptor() {
                        return t.descriptor();
                    }

                    @Override
                    public void close() {
                        // nothing is held
                    }
                });
            }

            @Override
            public List<String> transformIds() {
                return all.stream().map(t -> t.descriptor().id()).sorted().toList();
            }

            @Override
            public List<TransformDescriptor> descriptors() {
                return all.stream().map(ModelTransform::descriptor)
                        .sorted(Comparator.comparing(TransformDescriptor::id)).toList();
            }
        };
    }
}
