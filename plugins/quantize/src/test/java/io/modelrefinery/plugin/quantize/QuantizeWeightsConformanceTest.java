package io.modelrefinery.plugin.quantize;

import io.modelrefinery.api.plugin.ModelTransform;
import io.modelrefinery.testkit.TransformConformanceTest;

/** quantize-weights against the plugin conformance rules, on the sample CNN and an MLP with its defaults. */
class QuantizeWeightsConformanceTest extends TransformConformanceTest {
    @Override
    protected ModelTransform transform() {
        return new QuantizeWeightsTransform();
    }
}
