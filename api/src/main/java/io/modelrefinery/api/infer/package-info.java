/**
 * Inference as a service the host provides: plugins run ONNX models through
 * {@link io.modelrefinery.api.infer.InferenceService} and never load ONNX Runtime themselves.
 */
@Export
@Version("1.2.0")
package io.modelrefinery.api.infer;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
