package io.modelrefinery.host.cli;

/** The CLI's exit codes, part of the public contract. */
public final class ExitCode {
    /** The work is done. */
    public static final int OK = 0;
    /** The work failed: a step, ONNX Runtime or the file system. */
    public static final int FAILED = 1;
    /** Bad usage or bad input: the command line, the model, the data, the pipeline. */
    public static final int BAD_INPUT = 2;

    private ExitCode() {
    }
}
