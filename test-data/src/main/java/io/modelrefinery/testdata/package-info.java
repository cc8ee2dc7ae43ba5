/**
 * The public data sets tests measure against: {@link io.modelrefinery.testdata.FashionMnist} (the sample models'
 * task) and {@link io.modelrefinery.testdata.OnnxTestData} (ONNX's backend test models with expected outputs).
 * A plugin's tests get them through {@code refinery-plugin-testkit}; the host's tests depend on them directly.
 */
package io.modelrefinery.testdata;
