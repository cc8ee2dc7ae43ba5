package io.modelrefinery.plugin.mlflow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An MLflow tracking server for tests, written from MLflow's published REST API: the endpoints and
 * message fields of {@code mlflow/protos/model_registry.proto}, {@code service.proto} (runs, MLflow 3
 * logged models) and {@code mlflow_artifacts.proto} (the artifact proxy), with MLflow's behaviour where
 * the refinery depends on it:
 * <ul>
 *   <li>{@code GET} requests carry their fields as query parameters, the others as JSON with
 *   {@code Content-Type: application/json} (else 400, as MLflow's {@code _validate_content_type});</li>
 *   <li>a field that is not in the request message, or a missing required one, is answered 400
 *   {@code INVALID_PARAMETER_VALUE} (stricter than MLflow, which ignores unknown fields: this is the check
 *   of every request against the proto field names);</li>
 *   <li>errors are {@code {"error_code", "message"}} with MLflow's status per code and its messages
 *   ({@code RESOURCE_DOES_NOT_EXIST} 404, {@code RESOURCE_ALREADY_EXISTS} 400, {@code INTERNAL_ERROR} 500);</li>
 *   <li>an unknown endpoint is Flask's 404 page (no JSON), as an MLflow 2 server answers the logged-model
 *   endpoints when {@link #withoutLoggedModels()};</li>
 *   <li>{@code model_version.created} webhooks are delivered, signed as MLflow signs them.</li>
 * </ul>
 * Faults can be injected ({@link #failNext}), and every request is recorded.
 */
public final class MlflowTestServer implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String API = "/api/2.0/mlflow/";
    private static final String ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts";

    /** A request message: its fields, and which are required ({@code validate_required} in the proto). */
    private record Message(Set<String> fields, Set<String> required) {
        static Message of(String fields, String required) {
            return new Message(Set.of(fields.split(",")), required.isEmpty() ? Set.of() : Set.of(required.split(",")));
        }
    }

    /** The request messages of the endpoints served, from the protos. */
    private static final Map<String, Message> MESSAGES = Map.ofEntries(
            Map.entry("POST registered-models/create", Message.of("name,tags,description", "name")),
            Map.entry("GET registered-models/get-latest-versions", Message.of("name,stages", "name")),
            Map.entry("GET registered-models/alias", Message.of("name,alias", "name,alias")),
            Map.entry("POST registered-models/alias", Message.of("name,alias,version", "name,alias,version")),
            Map.entry("POST model-versions/create",
                    Message.of("name,source,run_id,tags,run_link,description,model_id", "name,source")),
            Map.entry("GET model-versions/get", Message.of("name,version", "name,version")),
            Map.entry("GET model-versions/get-download-uri", Message.of("name,version", "name,version")),
            Map.entry("GET model-versions/search", Message.of("filter,max_results,order_by,page_token", "")),
            Map.entry("GET runs/get", Message.of("run_id,run_uuid", "")),
            Map.entry("POST logged-models",
                    Message.of("experiment_id,name,model_type,source_run_id,params,tags", "experiment_id")),
            Map.entry("GET logged-models/{id}", Message.of("model_id", "")),
            Map.entry("PATCH logged-models/{id}", Message.of("model_id,status", "model_id,status")),
            Map.entry("POST logged-models/search",
                    Message.of("experiment_ids,filter,datasets,max_results,order_by,page_token", "")));

    /** One request as it arrived. */
    public record Request(String method, String path, String query, Map<String, String> headers, byte[] body) {
        public String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }
    }

    /** One webhook delivery and the status the receiver answered. */
    public record Delivery(String body, int status) {
    }

    private final HttpServer http;
    private final ExecutorService executor = Executors.newFixedThreadPool(4);
    private final ExecutorService webhooks = Executors.newSingleThreadExecutor();
    private final String authorization;
    private final List<Request> requests = new CopyOnWriteArrayList<>();
    private final List<Delivery> deliveries = new CopyOnWriteArrayList<>();
    private final Map<String, List<ObjectNode>> versions = new TreeMap<>();
    private final Map<String, Map<String, String>> aliases = new TreeMap<>();
    private final Map<String, ObjectNode> loggedModels = new LinkedHashMap<>();
    private final Map<String, ObjectNode> runs = new LinkedHashMap<>();
    private final Map<String, byte[]> artifacts = new TreeMap<>();
    private final List<Fault> faults = new ArrayList<>();
    private boolean loggedModelsApi = true;
    private URI webhookUrl;
    private String webhookSecret;

    private record Fault(String pathPrefix, int status, String errorCode, int[] left) {
    }

    private MlflowTestServer(String authorization) throws IOException {
        this.authorization = authorization;
        http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        http.createContext("/", this::serve);
        http.setExecutor(executor);
        http.start();
    }

    /** A server without authentication. */
    public static MlflowTestServer start() throws IOException {
        return new MlflowTestServer(null);
    }

    /** A server that answers 401 unless a request carries {@code Authorization: Bearer <token>}. */
    public static MlflowTestServer withToken(String token) throws IOException {
        return new MlflowTestServer("Bearer " + token);
    }

    /** A server that answers 401 unless a request carries HTTP basic credentials of {@code user}. */
    public static MlflowTestServer withBasicAuth(String user, String password) throws IOException {
        return new MlflowTestServer("Basic " + Base64.getEncoder().encodeToString((user + ":" + password)
                .getBytes(StandardCharsets.UTF_8)));
    }

    /** Answers the logged-model endpoints as an MLflow 2 server does: not found. */
    public synchronized MlflowTestServer withoutLoggedModels() {
        loggedModelsApi = false;
        return this;
    }

    /** The tracking URI: {@code http://127.0.0.1:<port>}. */
    public URI uri() {
        return URI.create("http://127.0.0.1:" + http.getAddress().getPort());
    }

    /** Delivers {@code model_version.created} webhooks to {@code url}, signed with {@code secret}. */
    public synchronized void webhook(URI url, String secret) {
        this.webhookUrl = url;
        this.webhookSecret = secret;
    }

    /** The next {@code times} requests whose path starts with {@code pathPrefix} fail with this status and error code. */
    public synchronized void failNext(String pathPrefix, int status, String errorCode, int times) {
        faults.add(new Fault(pathPrefix, status, errorCode, new int[] {times}));
    }

    public List<Request> requests() {
        return List.copyOf(requests);
    }

    public List<Delivery> deliveries() {
        return List.copyOf(deliveries);
    }

    // ---------------------------------------------------------------- seeding and inspection

    /** A run of {@code experimentId}, its artifacts at {@code mlflow-artifacts:/<experiment>/<run>/artifacts}. */
    public synchronized String createRun(String experimentId) {
        String id = UUID.randomUUID().toString().replace("-", "");
        ObjectNode info = JSON.createObjectNode().put("run_id", id).put("run_uuid", id).put("run_name", "run-" + id.substring(0, 6))
                .put("experiment_id", experimentId).put("status", "FINISHED").put("start_time", System.currentTimeMillis())
                .put("artifact_uri", "mlflow-artifacts:/" + experimentId + "/" + id + "/artifacts").put("lifecycle_stage", "active");
        ObjectNode run = JSON.createObjectNode();
        run.set("info", info);
        run.putObject("data");
        runs.put(id, run);
        return id;
    }

    /**
     * An MLflow 3 logged model, ready, with {@code files} (relative path to content) as its artifacts, as
     * {@code mlflow.<flavor>.log_model(name=...)} leaves it.
     *
     * @return its id, {@code m-<32 hex>}
     */
    public synchronized String logModel(String experimentId, String name, String sourceRunId, Map<String, byte[]> files) {
        String id = newLoggedModel(experimentId, name, sourceRunId, JSON.createArrayNode()).at("/info/model_id").asText();
        ObjectNode info = (ObjectNode) loggedModels.get(id).get("info");
        info.put("status", "LOGGED_MODEL_READY");
        String root = info.get("artifact_uri").asText().substring("mlflow-artifacts:/".length());
        files.forEach((path, content) -> artifacts.put(root + "/" + path, content));
        return info.get("model_id").asText();
    }

    /** Puts an artifact behind the proxy at {@code path} ({@code <experiment>/<run>/artifacts/...}). */
    public synchronized void putArtifact(String path, byte[] content) {
        artifacts.put(path, content);
    }

    public synchronized byte[] artifact(String path) {
        return artifacts.get(path);
    }

    /** Registers a version as {@code mlflow.register_model} does (creating the model), firing the webhook. */
    public ObjectNode registerVersion(String name, String source, String modelId, String runId, Map<String, String> tags) {
        ObjectNode request = JSON.createObjectNode().put("name", name).put("source", source);
        if (modelId != null) {
            request.put("model_id", modelId);
        }
        if (runId != null) {
            request.put("run_id", runId);
        }
        ArrayNode t = request.putArray("tags");
        tags.forEach((k, v) -> t.addObject().put("key", k).put("value", v));
        synchronized (this) {
            versions.putIfAbsent(name, new ArrayList<>());
        }
        return createVersion(request);
    }

    /** The versions of {@code name}, as {@code model-versions/get} shows them. */
    public synchronized List<ObjectNode> versions(String name) {
        return versions.getOrDefault(name, List.of()).stream().map(ObjectNode::deepCopy).toList();
    }

    public synchronized Map<String, String> aliases(String name) {
        return Map.copyOf(aliases.getOrDefault(name, Map.of()));
    }

    public synchronized List<ObjectNode> loggedModels() {
        return loggedModels.values().stream().map(ObjectNode::deepCopy).toList();
    }

    /** The artifacts of a logged model by relative path. */
    public synchronized Map<String, byte[]> loggedModelFiles(String modelId) {
        ObjectNode model = loggedModels.get(modelId);
        String root = model.at("/info/artifact_uri").asText().substring("mlflow-artifacts:/".length()) + "/";
        Map<String, byte[]> out = new TreeMap<>();
        artifacts.forEach((k, v) -> {
            if (k.startsWith(root)) {
                out.put(k.substring(root.length()), v);
            }
        });
        return out;
    }

    @Override
    public void close() {
        http.stop(0);
        executor.shutdownNow();
        webhooks.shutdownNow();
    }

    // ---------------------------------------------------------------- HTTP

    private void serve(HttpExchange exchange) throws IOException {
        try (exchange) {
            Map<String, String> headers = new TreeMap<>();
            exchange.getRequestHeaders().forEach((k, v) -> headers.put(k.toLowerCase(Locale.ROOT), v.get(0)));
            byte[] body = exchange.getRequestBody().readAllBytes();
            String method = exchange.getRequestMethod();
            String path = exchange.getRequestURI().getRawPath();
            String query = exchange.getRequestURI().getRawQuery();
            requests.add(new Request(method, path, query, headers, body));
            Answer answer;
            try {
                answer = route(method, path, query, headers, body);
            } catch (ApiError e) {
                answer = Answer.error(e.status, e.code, e.getMessage());
            }
            exchange.getResponseHeaders().set("Content-Type", answer.contentType);
            exchange.sendResponseHeaders(answer.status, answer.body.length == 0 ? -1 : answer.body.length);
            if (answer.body.length > 0) {
                exchange.getResponseBody().write(answer.body);
            }
        }
    }

    private record Answer(int status, String contentType, byte[] body) {
        static Answer json(JsonNode node) {
            try {
                return new Answer(200, "application/json", JSON.writeValueAsBytes(node));
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }

        static Answer error(int status, String code, String message) {
            return new Answer(status, "application/json", ("{\"error_code\": \"" + code + "\", \"message\": "
                    + JSON.valueToTree(message) + "}").getBytes(StandardCharsets.UTF_8));
        }

        static Answer notFoundPage() {
            return new Answer(404, "text/html; charset=utf-8", ("<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n"
                    + "<h1>Not Found</h1>\n<p>The requested URL was not found on the server.</p>\n").getBytes(StandardCharsets.UTF_8));
        }
    }

    private static final class ApiError extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final int status;
        final String code;

        ApiError(int status, String code, String message) {
            super(message);
            this.status = status;
            this.code = code;
        }
    }

    private static ApiError notFound(String message) {
        return new ApiError(404, "RESOURCE_DOES_NOT_EXIST", message);
    }

    private static ApiError invalid(String message) {
        return new ApiError(400, "INVALID_PARAMETER_VALUE", message);
    }

    private Answer route(String method, String path, String query, Map<String, String> headers, byte[] body) {
        if (authorization != null && !authorization.equals(headers.get("authorization"))) {
            return new Answer(401, "text/plain", "You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate."
                    .getBytes(StandardCharsets.UTF_8));
        }
        synchronized (this) {
            for (Fault fault : faults) {
                if (fault.left[0] > 0 && path.startsWith(fault.pathPrefix)) {
                    fault.left[0]--;
                    return Answer.error(fault.status, fault.errorCode, "injected fault");
                }
            }
        }
        if (path.startsWith(ARTIFACTS)) {
            return artifactProxy(method, path, query, body);
        }
        if (!path.startsWith(API)) {
            return Answer.notFoundPage();
        }
        String endpoint = path.substring(API.length());
        String key = method + " " + (endpoint.startsWith("logged-models/") && !endpoint.equals("logged-models/search")
                ? "logged-models/{id}" : endpoint);
        Message message = MESSAGES.get(key);
        if (message == null || (!loggedModelsApi && endpoint.startsWith("logged-models"))) {
            return Answer.notFoundPage();
        }
        ObjectNode request = method.equals("GET") ? queryMessage(query, message) : jsonMessage(headers, body);
        check(request, message);
        synchronized (this) {
            switch (key) {
                case "POST registered-models/create": return Answer.json(createRegisteredModel(request));
                case "GET registered-models/get-latest-versions": return Answer.json(latestVersions(request));
                case "GET registered-models/alias": return Answer.json(versionByAlias(request));
                case "POST registered-models/alias": return Answer.json(setAlias(request));
                case "POST model-versions/create": return Answer.json(wrap("model_version", createVersion(request)));
                case "GET model-versions/get": return Answer.json(wrap("model_version", version(request)));
                case "GET model-versions/get-download-uri": return Answer.json(downloadUri(request));
                case "GET model-versions/search": return Answer.json(searchVersions(request));
                case "GET runs/get": return Answer.json(wrap("run", run(request)));
                case "POST logged-models": return Answer.json(wrap("model", newLoggedModel(text(request, "experiment_id"),
                        text(request, "name"), text(request, "source_run_id"), (ArrayNode) request.get("tags"))));
                case "GET logged-models/{id}": return Answer.json(wrap("model", loggedModel(endpoint)));
                case "PATCH logged-models/{id}": return Answer.json(wrap("model", finalizeModel(endpoint, request)));
                case "POST logged-models/search": return Answer.json(searchLoggedModels(request));
                default: return Answer.notFoundPage();
            }
        }
    }

    private static ObjectNode queryMessage(String query, Message message) {
        ObjectNode request = JSON.createObjectNode();
        if (query == null) {
            return request;
        }
        for (String pair : query.split("&")) {
            int eq = pair.indexOf('=');
            String name = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
            String value = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
            if (name.equals("stages")) {
                (request.has(name) ? (ArrayNode) request.get(name) : request.putArray(name)).add(value);
            } else {
                request.put(name, value);
            }
        }
        return request;
    }

    private static ObjectNode jsonMessage(Map<String, String> headers, byte[] body) {
        String type = headers.getOrDefault("content-type", "");
        if (!type.startsWith("application/json")) {
            throw invalid("Bad Request. Content-Type must be one of ['application/json'].");
        }
        try {
            JsonNode node = body.length == 0 ? JSON.createObjectNode() : JSON.readTree(body);
            if (!node.isObject()) {
                throw invalid("Invalid request body: not a JSON object");
            }
            return (ObjectNode) node;
        } catch (IOException e) {
            throw new ApiError(400, "BAD_REQUEST", "Malformed JSON");
        }
    }

    /** Every field is one of the message's, tags are {key, value} objects, required fields are given. */
    private static void check(ObjectNode request, Message message) {
        request.fieldNames().forEachRemaining(name -> {
            if (!message.fields().contains(name)) {
                throw invalid("Invalid parameter '" + name + "': not a field of the request message (fields: "
                        + String.join(", ", new java.util.TreeSet<>(message.fields())) + ")");
            }
        });
        for (String name : message.required()) {
            JsonNode value = request.get(name);
            if (value == null || value.isNull() || (value.isTextual() && value.asText().isEmpty())) {
                throw invalid("Missing value for required parameter '" + name + "'. See the API docs for more "
                        + "information about request parameters.");
            }
        }
        JsonNode tags = request.get("tags");
        if (tags != null) {
            if (!tags.isArray()) {
                throw invalid("Invalid value " + tags + " for parameter 'tags' supplied. Hint: Value was of type 'dict'.");
            }
            for (JsonNode tag : tags) {
                Set<String> keys = new java.util.HashSet<>();
                tag.fieldNames().forEachRemaining(keys::add);
                if (!Set.of("key", "value").containsAll(keys) || !tag.path("key").isTextual()) {
                    throw invalid("Invalid tag " + tag + ": a tag has a string key and value");
                }
            }
        }
    }

    private static String text(ObjectNode request, String field) {
        JsonNode value = request.get(field);
        return value == null || value.isNull() ? null : value.asText();
    }

    private static ObjectNode wrap(String field, JsonNode value) {
        ObjectNode out = JSON.createObjectNode();
        out.set(field, value);
        return out;
    }

    // ---------------------------------------------------------------- registry

    private ObjectNode createRegisteredModel(ObjectNode request) {
        String name = text(request, "name");
        if (versions.containsKey(name)) {
            throw new ApiError(400, "RESOURCE_ALREADY_EXISTS", "Registered Model (name=" + name + ") already exists.");
        }
        versions.put(name, new ArrayList<>());
        long now = System.currentTimeMillis();
        ObjectNode model = JSON.createObjectNode().put("name", name).put("creation_timestamp", now)
                .put("last_updated_timestamp", now);
        return wrap("registered_model", model);
    }

    private List<ObjectNode> versionsOf(String name) {
        List<ObjectNode> list = versions.get(name);
        if (list == null) {
            throw notFound("Registered Model with name=" + name + " not found");
        }
        return list;
    }

    private ObjectNode createVersion(ObjectNode request) {
        ObjectNode version;
        synchronized (this) {
            List<ObjectNode> list = versionsOf(text(request, "name"));
            String modelId = text(request, "model_id");
            if (modelId != null && !loggedModels.containsKey(modelId)) {
                throw notFound("Logged model with ID '" + modelId + "' not found.");
            }
            long now = System.currentTimeMillis();
            version = JSON.createObjectNode().put("name", text(request, "name")).put("version", Integer.toString(list.size() + 1))
                    .put("creation_timestamp", now).put("last_updated_timestamp", now).put("current_stage", "None")
                    .put("description", text(request, "description")).put("source", text(request, "source"))
                    .put("run_id", text(request, "run_id")).put("status", "READY");
            version.set("tags", request.has("tags") ? request.get("tags").deepCopy() : JSON.createArrayNode());
            version.putArray("aliases");
            if (modelId != null) {
                version.put("model_id", modelId);
            }
            list.add(version);
        }
        deliverCreated(request, version);
        return version.deepCopy();
    }

    private ObjectNode version(ObjectNode request) {
        String name = text(request, "name");
        String number = text(request, "version");
        for (ObjectNode v : versions.getOrDefault(name, List.of())) {
            if (v.get("version").asText().equals(number)) {
                return withAliases(v);
            }
        }
        throw notFound("Model Version (name=" + name + ", version=" + number + ") not found");
    }

    private ObjectNode withAliases(ObjectNode version) {
        ObjectNode copy = version.deepCopy();
        ArrayNode list = copy.putArray("aliases");
        aliases.getOrDefault(version.get("name").asText(), Map.of()).forEach((alias, v) -> {
            if (v.equals(version.get("version").asText())) {
                list.add(alias);
            }
        });
        return copy;
    }

    private ObjectNode latestVersions(ObjectNode request) {
        List<ObjectNode> list = versionsOf(text(request, "name"));
        ArrayNode out = JSON.createArrayNode();
        if (!list.isEmpty()) {
            out.add(withAliases(list.get(list.size() - 1)));
        }
        return wrap("model_versions", out);
    }

    private ObjectNode versionByAlias(ObjectNode request) {
        String name = text(request, "name");
        versionsOf(name);
        String number = aliases.getOrDefault(name, Map.of()).get(text(request, "alias"));
        if (number == null) {
            throw invalid("Registered model alias " + text(request, "alias") + " not found.");
        }
        ObjectNode lookup = JSON.createObjectNode().put("name", name).put("version", number);
        return wrap("model_version", version(lookup));
    }

    private ObjectNode setAlias(ObjectNode request) {
        version(request);
        aliases.computeIfAbsent(text(request, "name"), k -> new TreeMap<>()).put(text(request, "alias"),
                text(request, "version"));
        return JSON.createObjectNode();
    }

    private ObjectNode downloadUri(ObjectNode request) {
        ObjectNode version = version(request);
        String source = version.get("source").asText();
        String uri = source;
        if (version.hasNonNull("model_id")) {
            uri = loggedModels.get(version.get("model_id").asText()).at("/info/artifact_uri").asText();
        } else if (source.startsWith("runs:/")) {
            String rest = source.substring("runs:/".length());
            String runId = rest.contains("/") ? rest.substring(0, rest.indexOf('/')) : rest;
            uri = runs.get(runId).at("/info/artifact_uri").asText() + (rest.contains("/") ? rest.substring(rest.indexOf('/')) : "");
        }
        return JSON.createObjectNode().put("artifact_uri", uri);
    }

    private static final Pattern CLAUSE = Pattern.compile(
            "\\s*(name|run_id|tags\\.`([^`]+)`|tags\\.([\\w.-]+))\\s*=\\s*'((?:[^'\\\\]|\\\\.)*)'\\s*");

    /** The filters MLflow's search supports that the refinery uses: comparisons joined by AND. */
    private static Map<String, String> parseFilter(String filter) {
        Map<String, String> clauses = new LinkedHashMap<>();
        if (filter == null || filter.isBlank()) {
            return clauses;
        }
        for (String clause : filter.split("(?i)\\s+AND\\s+")) {
            Matcher m = CLAUSE.matcher(clause);
            if (!m.matches()) {
                throw invalid("Invalid filter '" + filter + "'");
            }
            String key = m.group(2) != null ? "tags." + m.group(2) : m.group(3) != null ? "tags." + m.group(3) : m.group(1);
            clauses.put(key, m.group(4).replace("\\'", "'").replace("\\\\", "\\"));
        }
        return clauses;
    }

    private static boolean matches(ObjectNode entity, Map<String, String> clauses, String nameField) {
        for (Map.Entry<String, String> c : clauses.entrySet()) {
            String actual;
            if (c.getKey().startsWith("tags.")) {
                actual = null;
                for (JsonNode tag : entity.path("tags")) {
                    if (tag.path("key").asText().equals(c.getKey().substring(5))) {
                        actual = tag.path("value").asText();
                    }
                }
            } else {
                actual = entity.path(c.getKey().equals("name") ? nameField : c.getKey()).asText(null);
            }
            if (!c.getValue().equals(actual)) {
                return false;
            }
        }
        return true;
    }

    private ObjectNode searchVersions(ObjectNode request) {
        Map<String, String> clauses = parseFilter(text(request, "filter"));
        ArrayNode out = JSON.createArrayNode();
        versions.values().forEach(list -> list.stream().filter(v -> matches(v, clauses, "name"))
                .forEach(v -> out.add(withAliases(v))));
        return wrap("model_versions", out);
    }

    // ---------------------------------------------------------------- runs and logged models

    private ObjectNode run(ObjectNode request) {
        String id = text(request, "run_id") != null ? text(request, "run_id") : text(request, "run_uuid");
        ObjectNode run = runs.get(id);
        if (run == null) {
            throw notFound("Run with id=" + id + " not found");
        }
        return run.deepCopy();
    }

    private ObjectNode newLoggedModel(String experimentId, String name, String sourceRunId, ArrayNode tags) {
        String id = "m-" + UUID.randomUUID().toString().replace("-", "");
        long now = System.currentTimeMillis();
        ObjectNode info = JSON.createObjectNode().put("model_id", id).put("experiment_id", experimentId)
                .put("name", name == null ? "model" : name).put("creation_timestamp_ms", now)
                .put("last_updated_timestamp_ms", now)
                .put("artifact_uri", "mlflow-artifacts:/" + experimentId + "/models/" + id + "/artifacts")
                .put("status", "LOGGED_MODEL_PENDING");
        if (sourceRunId != null) {
            info.put("source_run_id", sourceRunId);
        }
        info.set("tags", tags == null ? JSON.createArrayNode() : tags.deepCopy());
        ObjectNode model = JSON.createObjectNode();
        model.set("info", info);
        model.putObject("data");
        loggedModels.put(id, model);
        return model.deepCopy();
    }

    private ObjectNode loggedModel(String endpoint) {
        String id = endpoint.substring("logged-models/".length());
        ObjectNode model = loggedModels.get(id);
        if (model == null) {
            throw notFound("Logged model with ID '" + id + "' not found.");
        }
        return model.deepCopy();
    }

    private ObjectNode finalizeModel(String endpoint, ObjectNode request) {
        loggedModel(endpoint);
        String id = endpoint.substring("logged-models/".length());
        if (!id.equals(text(request, "model_id"))) {
            throw invalid("model_id in the body (" + text(request, "model_id") + ") is not the path's (" + id + ")");
        }
        String status = text(request, "status");
        if (!Set.of("LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED").contains(status)) {
            throw invalid("Invalid value " + status + " for parameter 'status' supplied.");
        }
        ((ObjectNode) loggedModels.get(id).get("info")).put("status", status);
        return loggedModels.get(id).deepCopy();
    }

    private ObjectNode searchLoggedModels(ObjectNode request) {
        Set<String> experiments = new java.util.HashSet<>();
        request.path("experiment_ids").forEach(e -> experiments.add(e.asText()));
        Map<String, String> clauses = parseFilter(text(request, "filter"));
        ArrayNode out = JSON.createArrayNode();
        for (ObjectNode model : loggedModels.values()) {
            ObjectNode info = (ObjectNode) model.get("info");
            if (experiments.contains(info.get("experiment_id").asText()) && matches(info, clauses, "name")) {
                out.add(model.deepCopy());
            }
        }
        return wrap("models", out);
    }

    // ---------------------------------------------------------------- artifact proxy

    private Answer artifactProxy(String method, String path, String query, byte[] body) {
        String rest = path.length() > ARTIFACTS.length() ? URLDecoder.decode(path.substring(ARTIFACTS.length() + 1)
                .replace("+", "%2B"), StandardCharsets.UTF_8) : "";
        synchronized (this) {
            if (method.equals("GET") && rest.isEmpty()) {
                String dir = "";
                if (query != null) {
                    for (String pair : query.split("&")) {
                        if (pair.startsWith("path=")) {
                            dir = URLDecoder.decode(pair.substring(5), StandardCharsets.UTF_8);
                        }
                    }
                }
                return Answer.json(listing(dir));
            }
            if (method.equals("GET")) {
                byte[] content = artifacts.get(rest);
                if (content == null) {
                    return Answer.error(404, "RESOURCE_DOES_NOT_EXIST", "File not found: " + rest);
                }
                return new Answer(200, "application/octet-stream", content);
            }
            if (method.equals("PUT")) {
                artifacts.put(rest, body);
                return Answer.json(JSON.createObjectNode());
            }
        }
        return Answer.notFoundPage();
    }

    /** The proxy's listing: the folder's entries by name relative to it, folders with {@code is_dir}. */
    private ObjectNode listing(String dir) {
        String prefix = dir.isEmpty() ? "" : dir.replaceAll("/+$", "") + "/";
        Map<String, JsonNode> entries = new TreeMap<>();
        artifacts.forEach((k, v) -> {
            if (k.startsWith(prefix)) {
                String tail = k.substring(prefix.length());
                int slash = tail.indexOf('/');
                String name = slash < 0 ? tail : tail.substring(0, slash);
                ObjectNode entry = JSON.createObjectNode().put("path", name).put("is_dir", slash >= 0);
                if (slash < 0) {
                    entry.put("file_size", v.length);
                }
                entries.put(name, entry);
            }
        });
        ObjectNode out = JSON.createObjectNode();
        out.putArray("files").addAll(entries.values());
        return out;
    }

    // ---------------------------------------------------------------- webhooks

    /** Delivers model_version.created as MLflow's webhook delivery does: entity, action, timestamp, data; signed. */
    private void deliverCreated(ObjectNode request, ObjectNode version) {
        URI url;
        String secret;
        synchronized (this) {
            url = webhookUrl;
            secret = webhookSecret;
        }
        if (url == null) {
            return;
        }
        ObjectNode data = JSON.createObjectNode().put("name", text(request, "name"))
                .put("version", version.get("version").asText()).put("source", text(request, "source"))
                .put("run_id", text(request, "run_id"));
        ObjectNode tags = data.putObject("tags");
        request.path("tags").forEach(t -> tags.put(t.get("key").asText(), t.get("value").asText()));
        data.put("description", text(request, "description"));
        ObjectNode payload = JSON.createObjectNode().put("entity", "model_version").put("action", "created")
                .put("timestamp", Instant.now().toString());
        payload.set("data", data);
        String body = payload.toString();
        webhooks.submit(() -> {
            String id = UUID.randomUUID().toString();
            String ts = Long.toString(Instant.now().getEpochSecond());
            try {
                Mac mac = Mac.getInstance("HmacSHA256");
                mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
                String signature = "v1," + Base64.getEncoder().encodeToString(
                        mac.doFinal((id + "." + ts + "." + body).getBytes(StandardCharsets.UTF_8)));
                HttpResponse<String> response = HttpClient.newHttpClient().send(HttpRequest.newBuilder(url)
                        .header("Content-Type", "application/json").header("X-MLflow-Delivery-Id", id)
                        .header("X-MLflow-Timestamp", ts).header("X-MLflow-Signature", signature)
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
                deliveries.add(new Delivery(body, response.statusCode()));
            } catch (Exception e) {
                deliveries.add(new Delivery(body, -1));
            }
        });
    }
}
