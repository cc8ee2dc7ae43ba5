/**
 * Protobuf classes for the ONNX format, generated at build time from {@code api/src/main/proto/onnx.proto}.
 * Their version follows the IR version they describe.
 */
@Export
@Version("1.14.0")
package io.modelrefinery.api.onnx.proto;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
