package io.modelrefinery.host.ort;

import io.modelrefinery.api.infer.InferenceException;

/** ONNX Runtime's multi-line errors as one-line {@link InferenceException}s. */
final class OrtErrors {
    private OrtErrors() {
    }

    static InferenceException wrap(String what, Exception e) {
        return new InferenceException(what + ": " + oneLine(e.getMessage()), e);
    }

    static String oneLine(String message) {
        if (message == null) {
            return "unknown error";
        }
        return message.replaceAll("\\s*\\n\\s*", " ").trim();
    }
}
