package io.modelrefinery.plugin.opset;

import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.testkit.TransformConformanceTest;

/** opset against the plugin conformance rules, on the sample CNN and an MLP with its defaults. */
class OpsetConformanceTest extends TransformConformanceTest {
    @Override
    protected ModelTransform transform() {
        return new OpsetTransform();
    }
}
