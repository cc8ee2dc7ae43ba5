/** The {@code graph-optimize} transform: ONNX Runtime's offline graph optimization. */
package io.modelrefinery.plugin.graphoptimize;
