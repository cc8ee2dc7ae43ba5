package io.modelrefinery.plugin.mlflow;

import io.modelrefinery.api.InvalidInputException;

/**
 * MLflow refused a request as the event's or the request's fault (HTTP 4xx): a model version, alias,
 * run or logged model that does not exist ({@code RESOURCE_DOES_NOT_EXIST}), a name already taken
 * ({@code RESOURCE_ALREADY_EXISTS}), a bad parameter. Retrying does not help, so the job fails at once.
 */
final class MlflowError extends InvalidInputException {
    private static final long serialVersionUID = 1L;

    private final int status;
    private final String errorCode;

    MlflowError(String message, int status, String errorCode) {
        super(message);
        this.status = status;
        this.errorCode = errorCode;
    }

    int status() {
        return status;
    }

    /** MLflow's error code, such as {@code RESOURCE_DOES_NOT_EXIST}, or {@code null}. */
    String errorCode() {
        return errorCode;
    }

    boolean is(String code) {
        return code.equals(errorCode);
    }
}
