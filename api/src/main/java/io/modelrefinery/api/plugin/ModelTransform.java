package io.modelrefinery.api.plugin;

/**
 * A pipeline step: a converter, compressor or optimizer contributed by a plugin.
 *
 * <h2>Lifecycle</h2>
 * <ol>
 *   <li>A plugin bundle registers its transforms as OSGi Declarative Services components
 *       ({@code @Component(service = ModelTransform.class)}). The host tracks them dynamically: a
 *       transform can appear, be replaced by a newer version, or disappear at any time.</li>
 *   <li>{@link #descriptor()} is read whenever the host lists plugins or plans a pipeline. It must
 *       return the same value for the life of the object and must not do work.</li>
 *   <li>Before a job starts, the host parses and validates the step's parameters against the
 *       descriptor. {@link #apply} only ever sees valid {@link Params}.</li>
 *   <li>{@link #apply} runs on a worker thread, never on an event loop, possibly for several jobs at
 *       once: keep no per-call state in fields. A job that started on an instance finishes on it even
 *       if the plugin is upgraded meanwhile.</li>
 * </ol>
 *
 * <h2>Contract of {@code apply}</h2>
 * <ul>
 *   <li>Never change the input: build and return a new model (models are immutable anyway).</li>
 *   <li>Check {@link TransformContext#cancellation()} between units of work and report progress on long
 *       work through {@link TransformContext#progress()}.</li>
 *   <li>Run models only through {@link TransformContext#inference()}; never bundle ONNX Runtime.</li>
 *   <li>Write temporary files only under {@link TransformContext#scratchDirectory()}; the host writes
 *       the outputs.</li>
 *   <li>Throw {@link io.modelrefinery.api.InvalidInputException} (or a subclass) when the input model or
 *       data cannot be processed, and {@link TransformException} for other failures, marked retriable
 *       when a retry could succeed. The host validates the output before it is used.</li>
 * </ul>
 */
public interface ModelTransform {

    /** What this transform is and which parameters it takes. */
    TransformDescriptor descriptor();

    /**
     * Transforms {@code input} into a new model.
     *
     * @param context host services for this job and step
     * @param input the model, in one of {@link TransformDescriptor#inputFormats()}
     * @param params validated values of {@link TransformDescriptor#params()}
     * @return the new model, in {@link TransformDescriptor#outputFormat()}, with optional metrics and notes
     */
    TransformResult apply(TransformContext context, ModelArtifact input, Params params);
}
