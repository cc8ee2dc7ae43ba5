/**
 * Model Refinery's public API: what a plugin compiles against. Sub-packages hold the ONNX model IR
 * ({@code onnx}), the plugin SPI ({@code plugin}), dataset readers ({@code data}) and the inference
 * interface ({@code infer}). Nothing here depends on ONNX Runtime, Vert.x or Kafka.
 */
@Export
@Version("1.0.0")
package io.modelrefinery.api;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
