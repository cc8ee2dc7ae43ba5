/**
 * Conformance checks for Model Refinery plugins, run in a plugin's own build (test scope): extend
 * {@link io.modelrefinery.testkit.TransformConformanceTest}, return the transform, and every rule of the
 * {@link io.modelrefinery.api.plugin.ModelTransform} contract is checked against the host's real pipeline
 * checks and ONNX Runtime ({@link io.modelrefinery.testkit.ConformanceCase} for each mode,
 * {@link io.modelrefinery.testkit.ConformanceChecks} to run the same rules from another test). For behaviour
 * tests, {@link io.modelrefinery.testkit.PluginHarness} runs transforms and pipelines the same way and answers a
 * {@link io.modelrefinery.testkit.HarnessResult} (the output, each step's parameters, metrics and notes) or
 * throws {@link io.modelrefinery.testkit.StepFailedException} as a job would fail;
 * {@link io.modelrefinery.testkit.ModelOutputs} compares what models compute,
 * {@link io.modelrefinery.testkit.ArtifactMeasures} measures what they weigh as the host reports it, and
 * {@link io.modelrefinery.testkit.ConformanceModels} ({@code sampleCnn()}, {@code tenClassCnn()}, {@code mlp()}),
 * {@link io.modelrefinery.testkit.SampleData} and {@link io.modelrefinery.testkit.ConvNets} give models and
 * inputs; {@link io.modelrefinery.testkit.RegistryHarness} is a registry plugin's context. Public data sets come
 * with the kit from {@code refinery-test-data} ({@code io.modelrefinery.testdata}: {@code FashionMnist},
 * {@code OnnxTestData}). No type of the host appears in these signatures. See {@code docs/plugins.md}.
 */
package io.modelrefinery.testkit;
