/**
 * Conformance checks for Model Refinery plugins, run in a plugin's own build (test scope): extend
 * {@link io.modelrefinery.testkit.TransformConformanceTest}, return the transform, and every rule of the
 * {@link io.modelrefinery.api.plugin.ModelTransform} contract is checked against the host's real pipeline
 * checks and ONNX Runtime. For behaviour tests, {@link io.modelrefinery.testkit.PluginHarness} runs transforms
 * and pipelines the same way, with {@link io.modelrefinery.testkit.ModelOutputs} to compare what models compute
 * and {@link io.modelrefinery.testkit.ArtifactMeasures} to measure what they weigh. Public data sets come with
 * the kit from {@code refinery-test-data} ({@code io.modelrefinery.testdata}). See {@code docs/plugins.md}.
 */
package io.modelrefinery.testkit;
