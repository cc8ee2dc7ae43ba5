package io.modelrefinery.plugin.mlflow;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.modelrefinery.api.event.RegistryContext;
import io.modelrefinery.api.event.RegistryException;
import io.modelrefinery.api.event.RegistryResponse;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;

/**
 * MLflow's REST API as its Python client calls it: {@code GET} requests carry their message's fields as
 * query parameters, the others as a JSON body with {@code Content-Type: application/json}; an error
 * answers with {@code {"error_code": ..., "message": ...}} and the status MLflow maps that code to
 * ({@code RESOURCE_DOES_NOT_EXIST} 404, {@code RESOURCE_ALREADY_EXISTS} and
 * {@code INVALID_PARAMETER_VALUE} 400, {@code INTERNAL_ERROR} 500, ...). Every call goes through the
 * host's {@link io.modelrefinery.api.event.RegistryHttp}, under its policy.
 */
final class MlflowClient {
    static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, String> JSON_BODY = Map.of("Content-Type", "application/json");

    private final TrackingServer server;
    private final RegistryContext context;

    MlflowClient(TrackingServer server, RegistryContext context) {
        this.server = server;
        this.context = context;
    }

    TrackingServer server() {
        return server;
    }

    /** {@code GET /api/2.0/mlflow/<endpoint>} with query parameters (a list value repeats its name). */
    JsonNode get(String endpoint, Map<String, ?> params) {
        URI uri = server.resolve("/api/2.0/mlflow/" + endpoint, query(params));
        return answer("GET", endpoint, context.http().send("GET", uri, server.headersFor(uri, Map.of()), (byte[]) null));
    }

    /** {@code POST}, {@code PATCH} or {@code DELETE /api/2.0/mlflow/<endpoint>} with a JSON body. */
    JsonNode send(String method, String endpoint, ObjectNode body) {
        URI uri = server.resolve("/api/2.0/mlflow/" + endpoint, null);
        byte[] bytes;
        try {
            bytes = JSON.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        return answer(method, endpoint, context.http().send(method, uri, server.headersFor(uri, JSON_BODY), bytes));
    }

    /** Uploads a file to the artifact proxy at {@code uri}. */
    void upload(URI uri, Path file) {
        RegistryResponse response = context.http().send("PUT", uri,
                server.headersFor(uri, Map.of("Content-Type", "application/octet-stream")), file);
        answer("PUT", "mlflow-artifacts/artifacts", response);
    }

    /** Reads a small file (an {@code MLmodel}) in memory; a missing one is a {@link MlflowError} 404. */
    byte[] read(URI uri, String what) {
        RegistryResponse response = context.http().send("GET", uri, server.headersFor(uri, Map.of()), (byte[]) null);
        if (!response.ok()) {
            throw error("GET", what, response);
        }
        return response.body();
    }

    /** Downloads a file into the job's folder. */
    Path download(URI uri) {
        return context.http().download(uri, server.headersFor(uri, Map.of()), context.workDirectory());
    }

    /**
     * {@code GET} of another JSON API on the tracking server's origin (Azure Machine Learning's artifact
     * service), with the tracking credentials; errors as for MLflow's own endpoints.
     */
    JsonNode getJson(URI uri, String what) {
        return answer("GET", what, context.http().send("GET", uri, server.headersFor(uri, Map.of("Accept",
                "application/json")), (byte[]) null));
    }

    /** {@code GET} of a link that carries its own authorization (a storage SAS URI): no credentials go with it. */
    RegistryResponse getUnauthenticated(URI uri) {
        return context.http().send("GET", uri, Map.of(), (byte[]) null);
    }

    /** Downloads a link that carries its own authorization into the job's folder, without credentials. */
    Path downloadUnauthenticated(URI uri) {
        return context.http().download(uri, Map.of(), context.workDirectory());
    }

    private JsonNode answer(String method, String endpoint, RegistryResponse response) {
        if (!response.ok()) {
            throw error(method, endpoint, response);
        }
        if (response.body().length == 0) {
            return JSON.createObjectNode();
        }
        try {
            return JSON.readTree(response.body());
        } catch (IOException e) {
            throw new RegistryException("MLflow " + method + " " + endpoint + " at " + server
                    + " answered " + response.status() + " with a body that is not JSON", false, e);
        }
    }

    /**
     * The failure an error answer means: the event's problem (4xx, as {@link MlflowError}) or the
     * server's (5xx and 429 retriable, a refused credential not).
     */
    private RuntimeException error(String method, String endpoint, RegistryResponse response) {
        String code = null;
        String message = null;
        try {
            JsonNode body = JSON.readTree(response.body());
            if (body != null && body.isObject()) {
                // MLflow's {"error_code", "message"}, or Azure's ErrorResponse {"error": {"code", "message"}}
                JsonNode azure = body.path("error");
                code = body.path("error_code").asText(azure.path("code").asText(null));
                message = body.path("message").asText(azure.path("message").asText(null));
            }
        } catch (IOException e) {
            // a proxy's HTML page, or nothing: the status says enough
        }
        String what = "MLflow " + method + " " + endpoint + " at " + server + " answered " + response.status()
                + (code == null ? "" : " " + code) + (message == null ? "" : ": " + oneLine(message));
        int status = response.status();
        if (status == 401 || status == 403) {
            return new RegistryException(what + " (check MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME and "
                    + "MLFLOW_TRACKING_PASSWORD)", false);
        }
        if (status == 429 || status >= 500) {
            return new RegistryException(what, true);
        }
        if (status >= 400) {
            return new MlflowError(what, status, code);
        }
        return new RegistryException(what, false);
    }

    static String oneLine(String s) {
        String line = s.replaceAll("\\s+", " ").strip();
        return line.length() > 300 ? line.substring(0, 300) + "…" : line;
    }

    static String query(Map<String, ?> params) {
        StringJoiner query = new StringJoiner("&");
        params.forEach((name, value) -> {
            if (value instanceof List<?> values) {
                values.forEach(v -> query.add(encode(name) + "=" + encode(String.valueOf(v))));
            } else if (value != null) {
                query.add(encode(name) + "=" + encode(String.valueOf(value)));
            }
        });
        return query.toString();
    }

    static Map<String, Object> params(Object... nameValues) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (int i = 0; i < nameValues.length; i += 2) {
            out.put((String) nameValues[i], nameValues[i + 1]);
        }
        return out;
    }

    static String encode(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    /** Each segment of a relative artifact path percent-encoded, the slashes kept. */
    static String encodePath(String path) {
        StringJoiner out = new StringJoiner("/");
        for (String segment : path.split("/", -1)) {
            out.add(encode(segment));
        }
        return out.toString();
    }
}
