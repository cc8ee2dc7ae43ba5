package io.modelrefinery.api.infer;

/** ONNX Runtime refused a model or failed to run it; the message is ONNX Runtime's, on one line. */
public class InferenceException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public InferenceException(String message, Throwable cause) {
        super(message, cause);
    }
}
