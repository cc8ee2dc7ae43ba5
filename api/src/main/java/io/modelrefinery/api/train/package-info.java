/**
 * Training on ONNX graphs: {@link io.modelrefinery.api.train.TrainingGraph#build} differentiates an
 * inference model in reverse mode into a training graph (forward, loss, backward; gradients as graph
 * outputs) that ONNX Runtime runs through {@link io.modelrefinery.api.infer.InferenceService}, on the
 * CUDA provider when the job has a GPU. {@link io.modelrefinery.api.train.Trainer} streams mini-batches
 * from a {@link io.modelrefinery.api.data.Dataset}, steps an {@link io.modelrefinery.api.train.Optimizer}
 * (SGD with momentum, Adam) in Java and returns the trained model. Gradient rules live in
 * {@link io.modelrefinery.api.train.GradientRules}, one per operator type.
 */
@Export
@Version("1.0.0")
package io.modelrefinery.api.train;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
