package io.modelrefinery.host.ort;

import io.modelrefinery.api.infer.InferenceException;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * ONNX Runtime's errors as one-line {@link InferenceException}s that keep its reason and drop its wrapping:
 * the Java binding's "Error code - ORT_FAIL - message: ", the C API's "[ONNXRuntimeError] : 1 : FAIL : " and
 * "[ErrorCode:InvalidArgument] ", the source file, line, C++ function and failed condition of an
 * {@code ORT_ENFORCE}, and the advice addressed to ONNX Runtime's own users. Users read what in their model
 * is wrong, not where in ONNX Runtime it was noticed.
 */
final class OrtErrors {
    private static final Pattern EXCEPTION_CLASS = Pattern.compile("(?:ai\\.onnxruntime\\.)?OrtException:\\s*");
    private static final Pattern BINDING_CODE = Pattern.compile("Error code - ORT_[A-Z_]+ - message:\\s*");
    private static final Pattern STATUS_CODE = Pattern.compile(
            "\\[ONNXRuntimeError\\] : \\d+ : [A-Z_]+ :\\s*|\\[ErrorCode:[A-Za-z_]+\\]\\s*");
    private static final Pattern NODE_STATUS = Pattern.compile(
            "Non-zero status code returned while running (\\S+) node\\. Name:'([^']*)' Status Message:\\s*");
    /** {@code path/file.h:55 onnxruntime::Class::Method(args) condition was false. }: each part but the first optional. */
    private static final Pattern SOURCE_LOCATION = Pattern.compile("(?:/\\S+/)?[\\w.-]+\\.(?:h|hpp|cc|cpp|cu):\\d+ "
            + "(?:[\\w~<>,*&]*::[\\w:~<>,*& ]*?\\([^()]*\\)(?: const)? )?(?:[^.]*? was false\\. )?");
    private static final Pattern ADVICE = Pattern.compile("\\s*Please fix either the inputs/outputs or the model\\.?");

    private OrtErrors() {
    }

    static InferenceException wrap(String what, Exception e) {
        return new InferenceException(what + ": " + oneLine(e.getMessage()), e);
    }

    /** ONNX Runtime's message in one line, down to its reason. */
    static String oneLine(String message) {
        if (message == null || message.isBlank()) {
            return "unknown error";
        }
        String text = message.replaceAll("\\s*\\n\\s*", " ").trim();
        text = EXCEPTION_CLASS.matcher(text).replaceAll("");
        text = BINDING_CODE.matcher(text).replaceAll("");
        text = STATUS_CODE.matcher(text).replaceAll("");
        Matcher node = NODE_STATUS.matcher(text);
        text = node.replaceAll(m -> Matcher.quoteReplacement(m.group(1) + " node"
                + (m.group(2).isEmpty() ? "" : " '" + m.group(2) + "'") + ": "));
        text = SOURCE_LOCATION.matcher(text).replaceAll("");
        text = ADVICE.matcher(text).replaceAll("");
        text = text.trim();
        return text.isEmpty() ? "unknown error" : text;
    }
}
