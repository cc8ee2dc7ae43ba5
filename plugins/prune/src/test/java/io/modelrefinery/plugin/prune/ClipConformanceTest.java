package io.modelrefinery.plugin.prune;

import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.testkit.TransformConformanceTest;

/** clip against the plugin conformance rules, on the sample CNN and an MLP with its defaults. */
class ClipConformanceTest extends TransformConformanceTest {
    @Override
    protected ModelTransform transform() {
        return new ClipTransform();
    }
}
