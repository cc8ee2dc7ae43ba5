/**
 * The ONNX model IR: {@link io.modelrefinery.api.onnx.OnnxModel} (load, save, external data),
 * {@link io.modelrefinery.api.onnx.Tensor} (typed access to every ONNX element type), graph helpers
 * ({@link io.modelrefinery.api.onnx.GraphIndex}, {@link io.modelrefinery.api.onnx.GraphEditor}) and
 * structural validation ({@link io.modelrefinery.api.onnx.ModelValidator}).
 */
@Export
@Version("1.2.0")
package io.modelrefinery.api.onnx;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
