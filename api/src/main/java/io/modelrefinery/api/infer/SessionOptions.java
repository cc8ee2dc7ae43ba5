package io.modelrefinery.api.infer;

/**
 * How to open a session.
 *
 * @param optimization graph rewriting ONNX Runtime applies when the session is created
 * @param intraOpThreads threads one operator may use; 0 lets ONNX Runtime choose (one per core)
 * @param device where the session runs; {@code null} means the job's device
 * @param spinning whether ONNX Runtime's idle threads spin, waiting for the next operator, instead of sleeping:
 *     faster back-to-back runs (the default), but a caller that works on the cores between runs (counting a
 *     batch's histograms, say) competes with them
 */
public record SessionOptions(GraphOptimizationLevel optimization, int intraOpThreads, Device device,
                             boolean spinning) {

    public SessionOptions {
        if (optimization == null) {
            throw new IllegalArgumentException("optimization must not be null");
        }
        if (intraOpThreads < 0) {
            throw new IllegalArgumentException("intraOpThreads must not be negative: " + intraOpThreads);
        }
    }

    /** Spinning threads, as ONNX Runtime's own default. */
    public SessionOptions(GraphOptimizationLevel optimization, int intraOpThreads, Device device) {
        this(optimization, intraOpThreads, device, true);
    }

    /** All optimizations, ONNX Runtime's thread default, the job's device, spinning threads. */
    public static SessionOptions defaults() {
        return new SessionOptions(GraphOptimizationLevel.ALL, 0, null, true);
    }

    public SessionOptions withOptimization(GraphOptimizationLevel level) {
        return new SessionOptions(level, intraOpThreads, device, spinning);
    }

    public SessionOptions withIntraOpThreads(int threads) {
        return new SessionOptions(optimization, threads, device, spinning);
    }

    public SessionOptions withDevice(Device target) {
        return new SessionOptions(optimization, intraOpThreads, target, spinning);
    }

    public SessionOptions withSpinning(boolean spin) {
        return new SessionOptions(optimization, intraOpThreads, device, spin);
    }
}
