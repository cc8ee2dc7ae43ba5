/**
 * The {@code distill} transform: knowledge distillation into a narrower student, trained in ONNX Runtime
 * through the api's training engine.
 */
package io.modelrefinery.plugin.distill;
