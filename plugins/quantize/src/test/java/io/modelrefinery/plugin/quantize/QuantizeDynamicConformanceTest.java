package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.testkit.TransformConformanceTest;

/** quantize-dynamic against the plugin conformance rules, on the sample CNN and an MLP with its defaults. */
class QuantizeDynamicConformanceTest extends TransformConformanceTest {
    @Override
    protected ModelTransform transform() {
        return new QuantizeDynamicTransform();
    }
}
