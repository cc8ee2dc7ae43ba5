package io.modelrefinery.api.infer;

/**
 * How to open a session.
 *
 * @param optimization graph rewriting ONNX Runtime applies when the session is created
 * @param intraOpThreads threads one operator may use; 0 lets ONNX Runtime choose (one per core)
 * @param device where the session runs; {@code null} means the job's device
 */
public record SessionOptions(GraphOptimizationLevel optimization, int intraOpThreads, Device device) {

    public SessionOptions {
        if (optimization == null) {
            throw new IllegalArgumentException("optimization must not be null");
        }
        if (intraOpThreads < 0) {
            throw new IllegalArgumentException("intraOpThreads must not be negative: " + intraOpThreads);
        }
    }

    /** All optimizations, ONNX Runtime's thread default, the job's device. */
    public static SessionOptions defaults() {
        return new SessionOptions(GraphOptimizationLevel.ALL, 0, null);
    }

    public SessionOptions withOptimization(GraphOptimizationLevel level) {
        return new SessionOptions(level, intraOpThreads, device);
    }

    public SessionOptions withIntraOpThreads(int threads) {
        return new SessionOptions(optimization, threads, device);
    }

    public SessionOptions withDevice(Device target) {
        return new SessionOptions(optimization, intraOpThreads, target);
    }
}
