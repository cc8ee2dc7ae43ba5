package io.modelrefinery.api.infer;

/** ONNX Runtime's graph optimization levels. */
public enum GraphOptimizationLevel {
    /** No rewriting: the graph runs as written (calibration needs its tensor names intact). */
    DISABLED,
    /** Provider-independent rewrites: constant folding, redundant node removal, simple fusions. */
    BASIC,
    /** BASIC plus fusions into ONNX Runtime's own operators (domain {@code com.microsoft}). */
    EXTENDED,
    /** EXTENDED plus memory layout changes tuned to the machine that runs the optimization. */
    ALL
}
